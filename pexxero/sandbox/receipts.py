"""Small, real receipt files for the demo business: a PNG, a JPEG and a PDF, byte-for-byte deterministic.

Real formats (not placeholder bytes) so that Xero, an image viewer or a PDF reader accepts what the sync
uploads, and so tests can check the connector moved the file unchanged.
"""

from __future__ import annotations

import struct
import zlib

# A 16x16 baseline JPEG of receipt-paper colour. A fixed, valid byte string: encoding JPEG by hand is not worth it.
JPEG_RECEIPT = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300100b0c0e0c0a100e0d0e1211101318281a181616183123251d283a"
    "333d3c3933383740485c4e404457453738506d51575f626768673e4d71797064785c656763ffdb0043011112121815182f1a1a2f"
    "634238426363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363"
    "636363ffc00011080010001003012200021101031101ffc4001500010100000000000000000000000000000006ffc40014100100"
    "000000000000000000000000000000ffc4001501010100000000000000000000000000000203ffc4001411010000000000000000"
    "0000000000000000ffda000c03010002110311003f00b101327fffd9"
)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_receipt(lines: int = 6, width: int = 24, height: int = 32, ink: tuple[int, int, int] = (60, 60, 60)) -> bytes:
    """A tiny RGB PNG that looks like a till slip: paper with `lines` dark rows of "print"."""
    paper = bytes((250, 248, 240))
    dark = bytes(ink)
    rows = []
    for y in range(height):
        printed = 3 <= y < 3 + 3 * lines and (y - 3) % 3 == 0
        pixels = b"".join(dark if printed and 3 <= x < width - 3 else paper for x in range(width))
        rows.append(b"\x00" + pixels)  # filter type 0 (None) per scanline
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _png_chunk(b"IEND", b"")
    )


def _pdf_text(text: str) -> str:
    """Escape a line for a PDF literal string (ASCII only: Helvetica's standard encoding)."""
    safe = text.encode("ascii", "replace").decode("ascii")
    return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_receipt(lines: list[str]) -> bytes:
    """A minimal valid one-page PDF 1.4 showing `lines`, with a correct cross-reference table."""
    text_ops = ["BT", "/F1 11 Tf", "14 TL", "36 200 Td"]
    for line in lines:
        text_ops.append(f"({_pdf_text(line)}) Tj T*")
    text_ops.append("ET")
    stream = "\n".join(text_ops).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 288 240] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)
