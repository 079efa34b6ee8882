"""The dashboard's Streamlit settings: private by default, no developer toolbar, primary buttons not in error red."""

import tomllib
from pathlib import Path

CONFIG = tomllib.loads((Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml").read_text())


def test_the_server_listens_on_this_computer_alone_unless_configured():
    assert CONFIG["server"]["address"] == "127.0.0.1"


def test_no_deploy_button_or_developer_menu():
    assert CONFIG["client"]["toolbarMode"] == "viewer"


def test_primary_buttons_are_not_drawn_in_the_error_red():
    colour = CONFIG["theme"]["primaryColor"].lstrip("#")
    red, green, blue = (int(colour[i:i + 2], 16) for i in (0, 2, 4))
    assert blue > red and blue > green  # Streamlit's default #FF4B4B is what st.error draws in
