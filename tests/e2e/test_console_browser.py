"""/docs and /console in a real browser (headless Chromium, tests/browser.py) against the local stack:
Swagger UI lists the API and answers a "Try it out"; a job submitted through the console's form, with
a PNG from disk, plays its MP4 in the page; and a page of another origin gets nothing signed."""

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as visible
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from local.stack import LocalStack
from tests.browser import headless_chromium, skip_without_chromium
from tests.media_files import png_file

pytestmark = [pytest.mark.e2e, skip_without_chromium()]
PNG = png_file(640, 360)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with headless_chromium() as driver:
        yield driver


def wait(driver: webdriver.Chrome, seconds: float = 30) -> WebDriverWait[webdriver.Chrome]:
    return WebDriverWait(driver, seconds, poll_frequency=0.2)


def operation(driver: webdriver.Chrome, method: str, path: str) -> WebElement:
    """Swagger UI's block of one operation."""
    for block in driver.find_elements(By.CSS_SELECTOR, f".opblock-{method.lower()}"):
        if block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").text == path:
            return block
    raise AssertionError(f"{method} {path} is not listed")


def test_docs_lists_every_path_of_the_api_and_try_it_out_gets_jobs(
    browser: webdriver.Chrome, stack: LocalStack, api: httpx.Client
) -> None:
    document = api.get("/openapi.json").raise_for_status().json()

    browser.get(f"{stack.api_url}/docs")
    wait(browser).until(visible.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path")))
    listed = {element.text for element in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    title = browser.find_element(By.CSS_SELECTOR, ".information-container .title").text

    assert listed == set(document["paths"])
    assert document["info"]["title"] in title
    assert "OAS 3.1" in title

    # Try it out: GET /jobs, sent by Swagger UI from the page, signed by the front.
    block = operation(browser, "GET", "/jobs")
    block.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
    wait(browser).until(lambda _: block.find_element(By.CSS_SELECTOR, ".try-out__btn")).click()
    block.find_element(By.CSS_SELECTOR, ".execute").click()
    status = wait(browser).until(
        lambda _: block.find_element(
            By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status"
        )
    )

    assert status.text.strip() == "200"
    assert '"jobs"' in block.find_element(By.CSS_SELECTOR, ".live-responses-table .microlight").text


def test_a_job_submitted_through_the_console_form_plays_its_video_in_the_page(
    browser: webdriver.Chrome, stack: LocalStack, api: httpx.Client, tmp_path: Path
) -> None:
    image = tmp_path / "first-frame.png"
    image.write_bytes(PNG)

    # Given the console, when its form uploads a PNG from disk and submits a job with it,
    browser.get(f"{stack.api_url}/console")
    browser.find_element(By.ID, "image").send_keys(str(image))
    browser.find_element(By.ID, "prompt").send_keys("a cat wakes up and yawns")
    Select(browser.find_element(By.ID, "provider")).select_by_value("eachlabs")
    Select(browser.find_element(By.ID, "resolution")).select_by_value("480p")
    browser.find_element(By.ID, "submit").click()

    # then the job's page follows it to `succeeded`,
    wait(browser).until(lambda driver: re.search(r"/console/jobs/[0-9a-f-]{36}$", driver.current_url))
    job_id = urlsplit(browser.current_url).path.rsplit("/", 1)[1]
    wait(browser, 60).until(visible.text_to_be_present_in_element((By.ID, "status"), "succeeded"))
    # and the <video> has loaded the MP4 through GET /jobs/{job_id}/video's redirect to local S3.
    media = wait(browser).until(lambda driver: video_state(driver) if loaded(driver) else None)
    job = api.get(f"/jobs/{job_id}").raise_for_status().json()
    bucket, key = job["request"]["first_frame_url"].removeprefix("s3://").split("/", 1)
    uploaded = stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    attempts = browser.find_elements(By.CSS_SELECTOR, "#timeline li.attempt")

    assert job["status"] == "succeeded"
    assert uploaded == PNG  # the file from disk, PUT to the upload URL
    assert media["src"] == f"{stack.api_url}/jobs/{job_id}/video"
    assert media["readyState"] >= 2  # HAVE_CURRENT_DATA: a frame is decoded
    assert media["duration"] == pytest.approx(job["video"]["metadata"]["duration_seconds"], abs=0.1)
    assert media["videoWidth"] == job["video"]["metadata"]["width"]
    assert media["error"] is None
    assert [item.get_attribute("data-outcome") for item in attempts] == ["succeeded"]

    # The list has it too: status, provider, origin, age and cost.
    browser.get(f"{stack.api_url}/console")
    row = wait(browser).until(
        lambda driver: driver.find_element(By.CSS_SELECTOR, f'tr[data-job-id="{job_id}"]')
    )
    cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]

    assert cells[:4] == [job_id, "succeeded", "eachlabs", "http"]
    assert re.fullmatch(r"\d+ (s|min)", cells[4])
    assert cells[5] == f"${job['cost_estimate_usd']:.2f}"


def loaded(driver: webdriver.Chrome) -> bool:
    state = video_state(driver)
    return bool(state) and state["readyState"] >= 2 and (state["duration"] or 0) > 0


def video_state(driver: webdriver.Chrome) -> dict[str, Any]:
    state: dict[str, Any] = driver.execute_script(
        """const video = document.getElementById("video");
        return video && {readyState: video.readyState, duration: video.duration, src: video.src,
                         videoWidth: video.videoWidth, error: video.error && video.error.message};"""
    )
    return state


def test_a_page_of_another_origin_gets_nothing_signed(browser: webdriver.Chrome, stack: LocalStack) -> None:
    browser.get(f"{stack.api_url}/console")  # the browser holds the console's cookie
    before = stack.job_count()

    # Another local origin (the simulator's port: same site, so the cookie goes along) tries both ways:
    browser.get(f"{stack.simulator.base_url}/_sim/usage")
    fetched = browser.execute_async_script(
        """const done = arguments[arguments.length - 1];
        fetch(arguments[0] + "/jobs", {method: "POST", credentials: "include",
              headers: {"X-Seedance-Console": "1", "Content-Type": "application/json"}, body: "{}"})
          .then((response) => done("answered " + response.status), (error) => done(error.name));""",
        stack.api_url,
    )
    browser.execute_script(
        """const form = document.createElement("form");
        form.method = "POST"; form.action = arguments[0] + "/jobs"; form.enctype = "text/plain";
        const field = document.createElement("input");
        field.name = '{"provider": "eachlabs", "prompt": "forged", "x": "'; field.value = '"}';
        form.append(field); document.body.append(form); form.submit();""",
        stack.api_url,
    )
    wait(browser).until(lambda driver: urlsplit(driver.current_url).path == "/jobs")
    time.sleep(0.5)

    assert fetched == "TypeError"  # the header needs a CORS preflight, which the front never grants
    assert '{"message": "Forbidden"}' in browser.page_source  # the form's POST: no marker, same-site
    assert stack.job_count() == before
