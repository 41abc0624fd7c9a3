"""The dashboard in a real headless Chromium (Debian's ``chromium``), on a simulated city.

Screenshots are kept under ``tests/artifacts/`` (git-ignored) for people to look at.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium: apt-get install -y chromium"),
]


@dataclass(frozen=True)
class LiveSite:
    url: str
    admin: str
    county_user: str
    county: str
    deducted: str  # an institution with a deduction in its latest grade
    app: object


def _simulated_store(folder: Path):
    from features import import_paths
    from features.simulate import simulate_city
    from features.storage import create_engine, upgrade
    from scoring import credit_store

    summary = simulate_city(
        folder / "city", n_institutions=120, years=3, seed=3, claims_per_institution_year=5, claim_items=False
    )
    engine = create_engine(f"sqlite:///{folder / 'medcredit.db'}")
    upgrade(engine)
    # the dashboard needs no claims: import the contract tables only, which keeps the test quick
    import_paths(sorted(summary.data_dir.glob("*.csv")), engine=engine, actor="browser-test")
    credit_store.run_evaluation(engine, "2023-12-31", "national-100", actor="browser-test")
    credit_store.run_evaluation(engine, "2024-12-31", "national-100", actor="browser-test")
    return engine


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[LiveSite]:
    from werkzeug.serving import make_server

    from api.app import create_app
    from api.auth import create_token
    from api.store import region_codes
    from scoring import credit_store

    folder = tmp_path_factory.mktemp("browser")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDCREDIT_DATA_DIR", str(folder / "data"))
        engine = _simulated_store(folder)
        app = create_app({"DATABASE_URL": str(engine.url), "SECRET_KEY": "browser-test"})
        county = region_codes(engine, None)[0]
        latest = credit_store.latest_results(engine)
        deducted = str(latest.loc[latest["deductions"] > 0, "institution_code"].iloc[0])
        admin = create_token(engine, name="市局管理员", role="admin", regions="all").secret
        county_user = create_token(engine, name="区县调度员", role="scheduler", regions=[county]).secret
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield LiveSite(f"http://127.0.0.1:{server.server_port}", admin, county_user, county, deducted, app)
        finally:
            server.shutdown()
            thread.join(timeout=10)
            app.extensions["medcredit.engine"].dispose()
            engine.dispose()


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
    page = context.new_page()
    failures: list[str] = []
    # a download ends its navigation request with ERR_ABORTED; anything else is a real failure
    page.on(
        "requestfailed",
        lambda request: None if "ERR_ABORTED" in (request.failure or "") else failures.append(request.url),
    )
    page.on("pageerror", lambda error: failures.append(str(error)))
    page.on("console", lambda msg: failures.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    assert failures == [], f"requests failed or scripts errored: {failures}"


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, site: LiveSite, token: str) -> None:
    page.goto(site.url + "/login")
    page.fill("#token", token)
    page.click("#login-submit")
    page.wait_for_url(site.url + "/")


def test_login_page_then_overview(page, site):
    page.goto(site.url + "/")
    assert page.url.startswith(site.url + "/login")
    shot(page, "01-login")
    sign_in(page, site, site.admin)
    assert page.locator("h1").first.inner_text() == "总览"
    assert int(page.get_by_test_id("kpi-institutions").inner_text().replace(",", "")) == 120
    assert page.locator("svg.chart").count() >= 3
    shot(page, "02-overview")


def test_institution_list_filter_and_detail(page, site):
    sign_in(page, site, site.admin)
    page.click(".sidebar a:text-is('机构')")
    page.select_option("select[name=kind]", "hospital")
    page.click("button:has-text('筛选')")
    rows = page.get_by_test_id("institution-table").locator("tbody tr")
    assert rows.count() > 0
    assert all(cell == "医院" for cell in rows.locator("td:nth-child(3)").all_inner_texts())
    shot(page, "03-institutions-hospitals")
    rows.first.locator("a").click()
    page.wait_for_selector("text=基本信息")
    shot(page, "04-institution-detail")


def test_county_user_sees_only_its_county(page, site):
    sign_in(page, site, site.county_user)
    page.goto(site.url + "/institutions")
    counties = set(page.get_by_test_id("institution-table").locator("tbody td:nth-child(4)").all_inner_texts())
    assert counties == {site.county}
    shot(page, "05-county-user-list")


def test_english_toggle(page, site):
    sign_in(page, site, site.admin)
    page.click("text=English")
    page.wait_for_selector("h1:has-text('Overview')")
    shot(page, "06-overview-en")
    page.click("text=中文")
    page.wait_for_selector("h1:has-text('总览')")


DRAW_DATE = "2026-06-01"  # after the simulated years, so recent-inspection recusals leave teams to draw
DICE = "31415926535897932384 62643383279502884197"


def test_a_draw_is_made_and_verified_from_the_page(page, site):
    sign_in(page, site, site.county_user)
    page.click(".sidebar a:text-is('双随机抽查')")
    page.fill("input[name=as_of]", DRAW_DATE)
    shot(page, "08-draws-new")
    page.click("#freeze-pool")
    page.wait_for_selector("#seed-form")
    pool_hash = page.get_by_test_id("pool-hash").inner_text().strip()
    assert len(pool_hash) == 64
    assert page.get_by_test_id("draw-status").inner_text() == "已封存待抽取"
    shot(page, "09-draw-frozen")
    page.fill("#seed-value", DICE)
    page.fill("input[name=reference]", "2026-06-01 09:00 局机关大厅公开掷骰，纪检组监督")
    page.click("#enter-seed")
    page.wait_for_selector("[data-testid=selected-table]")
    assert page.get_by_test_id("draw-status").inner_text() == "已抽取"
    assert page.get_by_test_id("seed").inner_text() == DICE.replace(" ", "")
    drawn = page.get_by_test_id("selected-table").locator("tbody tr")
    assert drawn.count() >= 1
    assert set(drawn.locator("td:nth-child(3)").all_inner_texts()) == {site.county}
    page.click("#verify-draw")
    page.wait_for_selector("[data-testid=verification]")
    assert "验证通过" in page.get_by_test_id("verification").inner_text()
    shot(page, "10-draw-verified")
    with page.expect_download() as download:
        page.click("a:text-is('XLSX')")
    assert download.value.suggested_filename.endswith(".xlsx")


def test_objection_filed_on_the_detail_page_and_upheld(page, site):
    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/institutions/{site.deducted}")
    page.wait_for_selector("[data-testid=credit-lines]")
    assert page.locator("svg.chart").count() >= 1
    score_before = float(page.locator("dl.facts strong").first.inner_text())
    shot(page, "11-institution-credit")
    form = page.get_by_test_id("credit-lines").locator("form").first
    form.locator("input[name=reason]").fill("该处理决定已被复议撤销，附撤销决定书")
    form.locator("button").click()
    page.wait_for_selector(".flash.success")
    assert page.locator("text=异议待处理").count() == 1
    page.click(".sidebar a:text-is('异议与修复')")
    row = page.get_by_test_id("objection-table").locator("tbody tr").first
    assert site.deducted in row.inner_text()
    row.locator("input[name=note]").fill("经核实，处理决定已撤销")
    shot(page, "13-objections")
    row.locator("button:text-is('异议成立')").click()
    page.wait_for_selector(".flash.success")
    assert "异议成立" in page.get_by_test_id("objection-table").locator("tbody tr").first.inner_text()
    page.goto(f"{site.url}/institutions/{site.deducted}")
    assert float(page.locator("dl.facts strong").first.inner_text()) > score_before


def test_a_yearly_plan_is_made_from_the_page(page, site):
    sign_in(page, site, site.admin)
    page.click(".sidebar a:text-is('检查计划')")
    page.fill("input[name=year]", "2025")
    page.click("button:text-is('生成计划')")
    page.wait_for_selector("text=计划编号 #")
    shot(page, "12-plan")


def test_targeted_inspections_are_picked_from_the_page(page, site):
    sign_in(page, site, site.admin)
    page.click(".sidebar a:text-is('重点检查')")
    page.fill("input[name=budget]", "5")
    page.click("#pick-targeted")
    page.wait_for_selector("text=重点检查名单已生成")
    rows = page.get_by_test_id("targeted-picks").locator("tbody tr")
    assert 1 <= rows.count() <= 120
    assert page.get_by_text("下载智能审核线索（CSV）").count() == 1
    shot(page, "13-targeted")


def test_api_docs_render_from_local_assets(page, site):
    page.goto(site.url + "/api/v1/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    assert "medcredit API" in page.locator(".swagger-ui .info .title").inner_text()
    shot(page, "07-api-docs")
