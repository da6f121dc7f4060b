"""Fixtures for the tests of the product as people use it: the stack fixtures of
support/courier_web.py (`courier`, `admin`, `new_user`, `world`, `pb`), and headless Chromium
driven by Selenium.

- `browser`: a Chromium session; `browser.shot(name)` saves a screenshot into the artifacts folder
  (`$COURIER_ARTIFACTS`, default `.run/artifacts/` in the checkout), and one is saved at the end of
  every test, pass or fail.
"""

import os
import pathlib
import re
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
from courier_web import *  # noqa: E402,F401,F403
from courier_web import ARTIFACTS, CHROMEDRIVER, CHROMIUM, chromium_options  # noqa: E402


@pytest.fixture
def browser(request):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail(f"headless Chromium is missing ({CHROMIUM}, {CHROMEDRIVER}): scripts/setup.sh installs it")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=chromium_options())
    driver.set_page_load_timeout(30)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)

    def shot(name):
        path = ARTIFACTS / f"{test}-{name}.png"
        driver.save_screenshot(str(path))
        return path

    driver.shot = shot
    try:
        yield driver
    finally:
        try:
            shot("end")
        finally:
            driver.quit()
