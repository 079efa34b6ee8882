"""The clients of the two services: PEX (httpx) and Xero (the official xero-python SDK), and where they live."""
