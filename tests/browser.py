"""Headless Chromium for the browser tests: the machine's own browser and driver (Debian's `chromium`
and `chromium-driver`; `make test` installs them where it runs as root with apt-get), never one that
Selenium downloads. Without them the tests are skipped, saying so; with SEEDANCE_BROWSER_TESTS=required
(CI sets it) they fail instead."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.selenium_manager import SeleniumManager

BROWSERS = ("chromium", "chromium-browser")
DRIVERS = ("chromedriver",)
REQUIRED = os.environ.get("SEEDANCE_BROWSER_TESTS") == "required"
ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",  # the tests may run as root, where Chromium's sandbox refuses to start
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
    # Nothing but the pages under test: no update checks, sync or other calls of its own.
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
)


NO_CHROMIUM = (
    "no Chromium on this machine (chromium and chromedriver on PATH; `make test` installs Debian's "
    "chromium and chromium-driver when it runs as root): browser tests skipped"
)


def skip_without_chromium() -> pytest.MarkDecorator:
    """For a browser test module: skipped at collection, before any stack starts, where there is no
    Chromium (unless it is required)."""
    return pytest.mark.skipif(system_chromium() is None and not REQUIRED, reason=NO_CHROMIUM)


def system_chromium() -> tuple[str, str] | None:
    """(browser, driver) as installed on this machine (CHROMIUM_BINARY and CHROMEDRIVER override), or None."""
    browser = os.environ.get("CHROMIUM_BINARY") or next(filter(None, map(shutil.which, BROWSERS)), None)
    driver = os.environ.get("CHROMEDRIVER") or next(filter(None, map(shutil.which, DRIVERS)), None)
    return (browser, driver) if browser and driver else None


def _no_selenium_manager(*_: Any, **__: Any) -> NoReturn:
    raise AssertionError("Selenium Manager was asked for a browser or driver: it would download one")


@contextmanager
def headless_chromium() -> Iterator[webdriver.Chrome]:
    found = system_chromium()
    if found is None:
        if REQUIRED:
            pytest.fail(f"SEEDANCE_BROWSER_TESTS=required, but {NO_CHROMIUM.split(':')[0]}")
        pytest.skip(NO_CHROMIUM)
    browser, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ARGUMENTS:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Both paths are given, so Selenium has no reason to run its manager; should it try, it fails here.
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(SeleniumManager, "binary_paths", _no_selenium_manager)
        driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()
