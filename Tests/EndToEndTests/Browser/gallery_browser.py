#!/usr/bin/env python3
"""Drives the gallery in a real browser (Debian's chromium through chromium-driver and selenium).

Run by GalleryBrowserTests against a live pipeline-api with a recognizer behind it:
log in with the key, see the recognized images in the grid, narrow them by a search,
open image pages and find the boxes drawn over faces and text, check a phone-width layout,
submit a URL with the form and wait until the new image shows up. Exits 1 with the first
failed check; screenshots go to --screenshots.
"""
import argparse
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait


def click_and_wait(driver, element):
    """Clicks something that loads a new page and waits until the old page is gone (reading
    elements right after the click can otherwise catch the old page mid-navigation)."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 60).until(expected_conditions.staleness_of(page))


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {message}")


def card_names(driver):
    return [card.find_element(By.CSS_SELECTOR, ".name").text for card in driver.find_elements(By.CSS_SELECTOR, "#grid .card")]


def search(driver, base, **fields):
    driver.get(base + "/")
    for name, value in fields.items():
        box = driver.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form.search button"))
    return card_names(driver)


def open_card(driver, base, name):
    driver.get(base + "/")
    for card in driver.find_elements(By.CSS_SELECTOR, "#grid .card"):
        if card.find_element(By.CSS_SELECTOR, ".name").text == name:
            click_and_wait(driver, card.find_element(By.CSS_SELECTOR, "a"))
            return
    check(False, f"a card named {name}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--expect", required=True, help="comma-separated names the grid must show")
    parser.add_argument("--face-image", required=True)
    parser.add_argument("--text-image", required=True)
    parser.add_argument("--submit-url", required=True)
    parser.add_argument("--submit-name", required=True)
    parser.add_argument("--screenshots", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--driver", default="/usr/bin/chromedriver")
    args = parser.parse_args()

    options = Options()
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900"]:
        options.add_argument(flag)
    options.binary_location = args.chromium
    driver = webdriver.Chrome(service=Service(args.driver), options=options)
    driver.set_page_load_timeout(60)
    try:
        # The server has keys: the gallery asks for one, then keeps it in a cookie.
        driver.get(args.base + "/")
        check("/login" in driver.current_url, "an unknown browser is sent to the key form")
        driver.find_element(By.ID, "key").send_keys(args.key)
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form button"))

        names = card_names(driver)
        expected = args.expect.split(",")
        check(set(expected) <= set(names), f"the grid shows {expected} (got {names})")
        loaded = driver.execute_script(
            "return Array.from(document.querySelectorAll('#grid img')).every(i => i.complete && i.naturalWidth > 0)")
        check(loaded, "every thumbnail loaded")
        labels = driver.find_elements(By.CSS_SELECTOR, "#grid .card .tags li")
        check(len(labels) >= len(expected), "cards carry their top labels")
        driver.save_screenshot(f"{args.screenshots}/gallery-grid.png")

        narrowed = search(driver, args.base, label="cat")
        check(narrowed == ["cat"], f"a label search narrows the grid to the cat (got {narrowed})")
        by_text = search(driver, args.base, text="segmentation")
        check(by_text == [args.text_image], f"a text search finds the page (got {by_text})")

        open_card(driver, args.base, args.face_image)
        faces = driver.find_elements(By.CSS_SELECTOR, "svg.boxes rect.face-box")
        check(len(faces) >= 1, f"the image page of {args.face_image} draws a face box")
        photo = driver.find_element(By.CSS_SELECTOR, "figure.photo img").rect
        box = faces[0].rect
        inside = photo["x"] <= box["x"] and box["x"] + box["width"] <= photo["x"] + photo["width"] + 1 and box["height"] > 10
        check(inside, f"the face box lies on the photo ({box} in {photo})")
        bars = driver.find_elements(By.CSS_SELECTOR, "#labels .bar span")
        widths = [b.size["width"] for b in bars]
        check(bars and max(widths) > 0, "labels have confidence bars")
        check(driver.find_elements(By.ID, "properties"), "properties and colours are shown")
        driver.save_screenshot(f"{args.screenshots}/gallery-image.png")

        open_card(driver, args.base, args.text_image)
        lines = driver.find_elements(By.CSS_SELECTOR, "svg.boxes polygon.text-box")
        check(len(lines) >= 3, f"the page's text lines are outlined ({len(lines)})")
        check("segmentation" in driver.find_element(By.ID, "text-lines").text.lower(), "the read text is listed")

        driver.set_window_size(390, 844)
        driver.get(args.base + "/")
        fits = driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        check(fits, "the grid fits a phone-width screen without sideways scrolling")
        driver.save_screenshot(f"{args.screenshots}/gallery-phone.png")
        driver.set_window_size(1200, 900)

        driver.get(args.base + "/dead-letters")
        check("recognize.dead" in driver.page_source, "dead-letter queues are listed")

        driver.get(args.base + "/submit")
        driver.find_element(By.ID, "urls").send_keys(f"{args.submit_url} {args.submit_name}")
        click_and_wait(driver, driver.find_element(By.ID, "submit-button"))
        results = driver.find_element(By.ID, "results").text
        check(args.submit_name in results and "failed" not in results, f"the form accepted the URL ({results})")
        deadline = time.time() + 180
        while time.time() < deadline:
            driver.get(args.base + "/")
            if args.submit_name in card_names(driver):
                break
            time.sleep(1)
        check(args.submit_name in card_names(driver), "the submitted image appears in the grid after recognition")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
