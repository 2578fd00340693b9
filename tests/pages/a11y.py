"""Basic accessibility checks run in the page: every control has a name, every control can be
reached with Tab, text contrast is at least 4.5:1 (WCAG 2 formula on computed styles), and touch
targets are at least 48 px."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

MIN_CONTRAST = 4.5
MIN_TARGET_PX = 48

_CONTROLS = """
() => Array.from(document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]'))
  .filter(el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden'
    && !el.closest('[hidden]') && el.id !== 'main')
"""

_UNLABELLED = """
() => {
  const controls = (CONTROLS)();
  const text = (el) => (el ? el.textContent.replace(/\\s+/g, ' ').trim() : '');
  function name(el) {
    if (el.getAttribute('aria-label')) return el.getAttribute('aria-label').trim();
    const by = el.getAttribute('aria-labelledby');
    if (by) return by.split(/\\s+/).map(id => text(document.getElementById(id))).join(' ').trim();
    if (el.labels && el.labels.length) return Array.from(el.labels).map(text).join(' ').trim();
    if (['BUTTON', 'A', 'SUMMARY'].includes(el.tagName)) {
      return text(el) || Array.from(el.querySelectorAll('img[alt]')).map(i => i.alt).join(' ');
    }
    return (el.getAttribute('title') || '').trim();
  }
  return controls.filter(el => !name(el)).map(el => el.outerHTML.slice(0, 120));
}
""".replace("CONTROLS", _CONTROLS)

_MARK = """
() => (CONTROLS)().filter(el => !el.disabled
    && (el.tabIndex >= 0 || ['A', 'BUTTON', 'INPUT', 'SELECT', 'TEXTAREA', 'SUMMARY']
      .includes(el.tagName))).map((el, i) => {
  el.setAttribute('data-a11y', String(i));
  return [String(i), el.type === 'radio' ? 'radio:' + el.name : String(i),
          el.outerHTML.slice(0, 100)];
})
""".replace("CONTROLS", _CONTROLS)

_CONTRAST = """
() => {
  function rgba(text) {
    const m = text.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(',').map(s => parseFloat(s));
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }
  function over(top, bottom) {  // top composited over an opaque bottom
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  }
  function background(el) {
    const layers = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const c = rgba(getComputedStyle(node).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let colour = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) colour = over(layers[i], colour);
    return colour;
  }
  function luminance(c) {
    const [r, g, b] = c.slice(0, 3).map(v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  const failures = [];
  let checked = 0;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || seen.has(el)) continue;
    seen.add(el);
    if (!el.getClientRects().length || el.closest('[hidden]')) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || parseFloat(style.opacity) === 0) continue;
    if (el.closest('svg')) continue;  // chart text is checked against its own fills
    const bg = background(el);
    const fg = over(rgba(style.color), bg);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    checked += 1;
    if (ratio < MIN_CONTRAST) {
      const what = el.textContent.trim().slice(0, 40);
      const under = bg.slice(0, 3).map(Math.round);
      failures.push(`${ratio.toFixed(2)}: "${what}" ${style.color} on rgb(${under})`);
    }
  }
  return {checked, failures};
}
""".replace("MIN_CONTRAST", str(MIN_CONTRAST))

_SMALL_TARGETS = """
() => (CONTROLS)().filter(el => el.tagName !== 'A' || el.closest('nav'))
  .map(el => {
    // A visually hidden radio is operated through its label.
    const target = el.type === 'radio' && el.labels && el.labels.length ? el.labels[0] : el;
    const box = target.getBoundingClientRect();
    return [box.width, box.height, target.outerHTML.slice(0, 100)];
  })
  .filter(([w, h]) => w < MIN_TARGET_PX || h < MIN_TARGET_PX)
""".replace("CONTROLS", _CONTROLS).replace("MIN_TARGET_PX", str(MIN_TARGET_PX))


def unlabelled_controls(page: Page) -> list[str]:
    result: list[str] = page.evaluate(_UNLABELLED)
    return result


def unreachable_by_keyboard(page: Page) -> list[str]:
    """Controls never focused while tabbing through the page once (a radio group counts as
    reached when any of its radios is: arrow keys move within it)."""
    marked: list[list[str]] = page.evaluate(_MARK)
    if not marked:
        return []
    # Start on the first control (a click elsewhere would move the starting point of Tab).
    page.evaluate("() => document.querySelector('[data-a11y=\"0\"]').focus()")
    reached: set[str] = {"0"}
    # Some controls take several Tab stops (each field of a date and time input is one).
    for _ in range(3 * len(marked) + 10):
        page.keyboard.press("Tab")
        mark = page.evaluate(
            "() => document.activeElement && document.activeElement.getAttribute('data-a11y')"
        )
        if mark is not None:
            reached.add(mark)
            if len(reached) == len(marked):
                break
    groups = {group for mark, group, _ in marked if mark in reached}
    return [html for mark, group, html in marked if mark not in reached and group not in groups]


def low_contrast_text(page: Page) -> tuple[int, list[str]]:
    """(text elements checked, those below 4.5:1)."""
    result: dict[str, Any] = page.evaluate(_CONTRAST)
    return int(result["checked"]), list(result["failures"])


def small_touch_targets(page: Page) -> list[Any]:
    result: list[Any] = page.evaluate(_SMALL_TARGETS)
    return result


def assert_accessible(page: Page, *, touch: bool = False) -> None:
    assert unlabelled_controls(page) == []
    checked, failures = low_contrast_text(page)
    assert checked > 0
    assert failures == []
    if touch:
        assert small_touch_targets(page) == []
    assert unreachable_by_keyboard(page) == []
