"""AppTest runs app.py in this process without reading .streamlit/config.toml, so server.address
would be Streamlit's own default (every interface) and the app would refuse to serve without
sign-in (ui/auth.py). Page tests are single-user mode: the repository's localhost default."""

from __future__ import annotations

import pytest
from streamlit import config


@pytest.fixture(autouse=True)
def served_on_localhost():
    before = config.get_option("server.address")
    config.set_option("server.address", "localhost")
    yield
    config.set_option("server.address", before)
