"""examples/chat in headless Chromium: two windows, a message typed in one shows in the other.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package;
skipped when they are missing.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_websocket_chat import chat  # noqa: F401 - the fixture

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver"
)


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM or ""
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER or ""), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: Any, condition: Any, what: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15, poll_frequency=0.05).until(condition, message=what)


def messages(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#messages li")]


def say(driver: Any, text: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "body").send_keys(text)
    driver.find_element(By.CSS_SELECTOR, "#form button").click()


@pytest.mark.parametrize("page", ["/", "/poll"], ids=["websocket", "long-polling"])
def test_a_message_typed_in_one_window_appears_in_the_other(
    chat: tuple[subprocess.Popen[bytes], int],  # noqa: F811
    browser: Any,
    page: str,
) -> None:
    from selenium.webdriver.common.by import By

    _, port = chat
    url = f"http://127.0.0.1:{port}{page}"
    first = browser.current_window_handle
    browser.get(url)
    browser.switch_to.new_window("window")
    second = browser.current_window_handle
    browser.get(url)
    if page == "/":
        for handle in (first, second):
            browser.switch_to.window(handle)
            wait_for(
                browser,
                lambda d: d.find_element(By.ID, "status").text == "connected",
                "the WebSocket page did not connect",
            )
    text = f"hello over {page}"
    browser.switch_to.window(second)
    say(browser, text)
    browser.switch_to.window(first)
    wait_for(browser, lambda d: text in messages(d), "the message did not reach window 1")
    browser.switch_to.window(second)
    wait_for(browser, lambda d: text in messages(d), "the sender did not see its message")
    reply = "and back"
    say(browser, reply)
    browser.switch_to.window(first)
    wait_for(browser, lambda d: reply in messages(d), "the reply did not reach window 1")
    assert messages(browser)[-2:] == [text, reply]
