"""The dashboard (监管工作台): server-rendered pages in Simplified Chinese, English on request.

Pages call the same store and scoring functions as the API; the login stores only the token's
hash in an HttpOnly, SameSite=Strict session cookie, and every form post carries a CSRF token.
"""

from __future__ import annotations

import math
from datetime import date
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException

from features.contract import CODE_LISTS
from scoring import credit_store, risk_store, selection_store

from .. import charts, store
from ..auth import hash_token, principal_for_secret, requires
from ..context import current_engine, current_principal
from ..frames import records
from ..guard import require_all_regions
from ..i18n import current_lang, label, t
from ..schemas import GRADES, RISK_LEVELS
from . import _ratings
from . import draws as draws_api
from . import objections as objections_api

bp = Blueprint("dashboard", __name__)


@bp.app_context_processor
def _template_helpers() -> dict:
    return {"t": t, "label": label, "lang": current_lang, "CODE_LISTS": CODE_LISTS}


@bp.after_app_request
def _remember_language(response: Response) -> Response:
    asked = request.args.get("lang")
    if asked in ("zh", "en") and not request.path.startswith("/api/"):
        response.set_cookie("lang", asked, max_age=365 * 86400, samesite="Strict", httponly=True)
    return response


def _safe_next(target: str | None) -> str:
    """Only same-site paths after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return url_for("dashboard.overview")
    return target


@bp.route("/login", methods=["GET", "POST"])
@requires(None)
def login():
    error = None
    if request.method == "POST":
        principal = principal_for_secret(current_engine(), request.form.get("token", ""))
        if principal is not None:
            session.clear()
            session["token_sha256"] = hash_token(request.form["token"].strip())
            session.permanent = True
            return redirect(_safe_next(request.form.get("next")))
        error = t("login_failed")
    status = 401 if error else 200
    return render_template("login.html", error=error, next=request.args.get("next", "")), status


@bp.route("/logout", methods=["POST"])
@requires(None)
def logout():
    session.clear()
    return redirect(url_for("dashboard.login"))


@bp.route("/", methods=["GET"])
@requires("institutions:read")
def overview():
    engine, principal = current_engine(), current_principal()
    regions = principal.regions
    counties = store.region_codes(engine, regions)
    kinds = list(CODE_LISTS["institution_kind"])
    cells = {(r["region_code"], r["kind"]): r["n"] for r in store.counts_by_region_and_kind(engine, regions)}
    by_county_kind = charts.stacked_bars(
        counties,
        [
            charts.Series(label("kind", kind), [cells.get((c, kind), 0) for c in counties], charts.PALETTE[i])
            for i, kind in enumerate(kinds)
        ],
        title=t("by_county_kind"),
    )
    years = store.yearly_activity(engine, regions)
    year_labels = [str(y["year"]) for y in years]
    trend = charts.line_chart(
        year_labels,
        [
            charts.Series(t("trend_inspections"), [y["inspections"] for y in years], charts.PALETTE[0]),
            charts.Series(t("trend_violations"), [y["violations"] for y in years], charts.PALETTE[3]),
        ],
        title=t("trend"),
    )
    found_rate = charts.line_chart(
        year_labels,
        [
            charts.Series(
                t("trend_found_rate"),
                [y["found"] / y["inspections"] if y["inspections"] else 0 for y in years],
                charts.PALETTE[4],
            )
        ],
        title=t("trend_found_rate"),
        percent=True,
    )
    grade_charts = _grade_charts(engine, regions, counties, kinds)
    totals = {
        "institutions": sum(cells.values()),
        "inspections": sum(y["inspections"] for y in years),
        "violations": sum(y["violations"] for y in years),
        "counties": len(counties),
    }
    return render_template(
        "overview.html",
        totals=totals,
        by_county_kind=by_county_kind,
        trend=trend,
        found_rate=found_rate,
        grade_charts=grade_charts,
    )


def _grade_charts(engine, regions, counties: list[str], kinds: list[str]) -> dict:
    """Grades by county and kind, risk by county — only once grades or scores exist."""
    grades, risks = _ratings.current_grades(engine), _ratings.current_risk_levels(engine)
    if not grades and not risks:
        return {}
    rows = store.list_institutions(engine, store.InstitutionFilter(regions=regions), per_page=1_000_000)[0]
    out = {}
    if grades:

        def grade_series(key: str, groups: list[str], label_of, title: str) -> charts.Markup:
            series = [
                charts.Series(
                    g,
                    [
                        sum(1 for r in rows if r[key] == grp and grades.get(r["institution_code"]) == g)
                        for grp in groups
                    ],
                    charts.GRADE_COLOURS[g],
                )
                for g in GRADES
                if any(v == g for v in grades.values())
            ]
            return charts.stacked_bars([label_of(x) for x in groups], series, title=title)

        out["grades_by_county"] = grade_series("region_code", counties, str, t("grades_by_county"))
        out["grades_by_kind"] = grade_series("kind", kinds, lambda k: label("kind", k), t("grades_by_kind"))
        out["grade_trend"] = _grade_trend(engine, regions)
    if risks:
        out["risk_by_county"] = _risk_chart(rows, risks, "region_code", counties, str, t("risk_by_county"))
        out["risk_by_kind"] = _risk_chart(rows, risks, "kind", kinds, lambda k: label("kind", k), t("risk_by_kind"))
    return out


def _risk_chart(rows: list[dict], risks: dict[str, str], key: str, groups: list[str], label_of, title: str):
    """Institutions per risk level (stacked, 低 → 极高) for each group of ``key`` (county or kind)."""
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        level = risks.get(row["institution_code"])
        if level is not None:
            counts[(row[key], level)] = counts.get((row[key], level), 0) + 1
    series = [
        charts.Series(t("risk_" + level), [counts.get((g, level), 0) for g in groups], charts.RISK_COLOURS[level])
        for level in RISK_LEVELS
    ]
    return charts.stacked_bars([label_of(g) for g in groups], series, title=title)


def _grade_trend(engine, regions, last: int = 8) -> charts.Markup:
    """Grade distribution of the newest full credit runs (subject re-grades left out), oldest first."""
    runs = [r for r in records(credit_store.list_runs(engine)) if not r.get("parent_run_id")][:last][::-1]
    allowed = (
        None if regions is None else set(store.institution_codes(engine, store.InstitutionFilter(regions=regions)))
    )
    counts = []
    for run in runs:
        results = credit_store.run_results(engine, run["run_id"])
        if allowed is not None:
            results = results[results["institution_code"].isin(allowed)]
        counts.append(results["grade"].value_counts().to_dict())
    present = [g for g in GRADES if any(g in c for c in counts)]
    return charts.stacked_bars(
        [f"#{r['run_id']} {r['as_of']:%Y-%m-%d}" for r in runs],
        [charts.Series(g, [c.get(g, 0) for c in counts], charts.GRADE_COLOURS[g]) for g in present],
        title=t("grade_trend"),
    )


@bp.route("/institutions", methods=["GET"])
@requires("institutions:read")
def institutions():
    engine, principal = current_engine(), current_principal()
    args = {
        k: v for k, v in request.args.items() if v and k in {"county", "kind", "status", "grade", "risk_level", "q"}
    }
    if args.get("grade") not in (None, *GRADES) or args.get("risk_level") not in (None, *RISK_LEVELS):
        args.pop("grade", None), args.pop("risk_level", None)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    per_page = 50
    filters = store.InstitutionFilter(
        regions=principal.regions,
        county=args.get("county"),
        kind=args.get("kind"),
        status=args.get("status"),
        codes=_ratings.codes_with(engine, grade=args.get("grade"), risk_level=args.get("risk_level")),
        q=args.get("q"),
    )
    rows, total = store.list_institutions(engine, filters, page=page, per_page=per_page)
    _ratings.attach(engine, rows)
    return render_template(
        "institutions.html",
        rows=rows,
        total=total,
        page=page,
        pages=max(math.ceil(total / per_page), 1),
        args=args,
        counties=store.region_codes(engine, principal.regions),
        grades=GRADES,
        risk_levels=RISK_LEVELS,
    )


@bp.route("/institutions/<code>", methods=["GET"])
@requires("institutions:read", audit_read="institution.read")
def institution(code: str):
    engine = current_engine()
    detail = store.get_institution(engine, code)
    violations = store.recent_rows(engine, "violations", code, order_by="found_date")
    inspections = store.recent_rows(engine, "inspections", code, order_by="start_date")
    history = records(credit_store.score_history(engine, code))
    risks = records(risk_store.institution_scores(engine, code))
    credit = lines = chart = risk_chart = None
    if len(risks) > 1:
        oldest_first = risks[::-1]
        risk_chart = charts.line_chart(
            [f"{r['as_of']:%Y-%m-%d}" for r in oldest_first],
            [charts.Series(t("risk_probability"), [r["probability"] for r in oldest_first], charts.PALETTE[3])],
            title=t("risk_history"),
            percent=True,
        )
    if history:
        credit = history[-1]
        lines = records(credit_store.run_lines(engine, credit["run_id"], code))
        chart = charts.line_chart(
            [f"#{h['run_id']} {h['as_of']:%Y-%m-%d}" for h in history],
            [charts.Series(t("score"), [h["score"] for h in history], charts.PALETTE[0])],
            title=t("score_history"),
        )
    return render_template(
        "institution.html",
        inst=detail,
        violations=violations,
        inspections=inspections,
        credit=credit,
        lines=lines,
        history=history,
        history_chart=chart,
        risk=risks[0] if risks else None,
        risk_chart=risk_chart,
        can_object=current_principal().can("objections:write"),
        pending_lines={o["line_id"] for o in objections_api.objection_rows(code) if o["status"] == "pending"},
    )


@bp.route("/institutions/<code>/objections", methods=["POST"])
@requires("objections:write")
def file_objection(code: str):
    body = {
        "line_id": request.form.get("line_id", ""),
        "reason": request.form.get("reason", "").strip(),
        "attachments": [],
        "run_id": request.form.get("run_id", type=int),
    }
    return _attempt(
        lambda: objections_api.file_objection(code, body, _actor()),
        t("objection_filed"),
        url_for("dashboard.institution", code=code),
    )


def _actor() -> str:
    return f"web:{current_principal().name}"


def _attempt(action, success: str, back: str):
    """Run a change; on a refusal the data layer explains (ValueError, LookupError), show it and go back."""
    try:
        action()
    except (ValueError, LookupError, HTTPException) as error:
        message = getattr(error, "description", None) or str(error)
        flash(message, "error")
    else:
        flash(success, "success")
    return redirect(back)


# -- draws -----------------------------------------------------------------------------------


@bp.route("/draws", methods=["GET"])
@requires("draws:read")
def draws():
    principal = current_principal()
    rows = [
        r
        for r in records(selection_store.list_draws(current_engine()))
        if all(principal.sees_region(x) for x in str(r["regions"]).split(";") if x)
    ]
    return render_template(
        "draws.html",
        rows=rows,
        counties=store.region_codes(current_engine(), principal.regions),
        can_write=principal.can("draws:write"),
        today=date.today(),
    )


@bp.route("/draws", methods=["POST"])
@requires("draws:write")
def create_draw():
    try:
        body = {
            "as_of": date.fromisoformat(request.form.get("as_of", "")),
            "regions": request.form.getlist("regions"),
            "item": request.form.get("item") or None,
        }
    except ValueError:
        flash(t("as_of") + ": YYYY-MM-DD", "error")
        return redirect(url_for("dashboard.draws"))
    holder: dict = {}

    def freeze() -> None:
        holder["draw"] = draws_api.freeze(body, _actor())

    response = _attempt(freeze, t("draw_frozen"), url_for("dashboard.draws"))
    if "draw" in holder:
        return redirect(url_for("dashboard.draw", draw_id=holder["draw"].draw_id))
    return response


@bp.route("/draws/<draw_id>", methods=["GET"])
@requires("draws:read")
def draw(draw_id: str):
    detail = draws_api.draw_detail(draws_api.load_draw(draw_id))
    verification = None
    if request.args.get("verify") and detail["status"] == "drawn":
        result = selection_store.verify_stored_draw(current_engine(), draw_id)
        verification = {"ok": result.ok, "checks": result.checks, "discrepancy": result.discrepancy}
    return render_template(
        "draw.html", d=detail, verification=verification, can_write=current_principal().can("draws:write")
    )


@bp.route("/draws/<draw_id>/seed", methods=["POST"])
@requires("draws:write")
def draw_seed(draw_id: str):
    body = {
        "source": request.form.get("source", ""),
        "value": request.form.get("value", ""),
        "reference": request.form.get("reference") or None,
    }
    return _attempt(
        lambda: draws_api.enter_seed(draw_id, body, _actor()),
        t("draw_done"),
        url_for("dashboard.draw", draw_id=draw_id),
    )


@bp.route("/draws/<draw_id>/export", methods=["GET"])
@requires("draws:read")
def draw_export(draw_id: str):
    stage, fmt = request.args.get("stage", "draw"), request.args.get("format", "csv")
    if stage not in ("pool", "draw", "results") or fmt not in ("csv", "xlsx", "json"):
        abort(400)
    return draws_api.export_file(draw_id, stage, fmt)


# -- targeted selections ---------------------------------------------------------------------


@bp.route("/targeted", methods=["GET"])
@requires("selections:read")
def targeted():
    require_all_regions(t("targeted_title"))
    engine = current_engine()
    selection_id = request.args.get("selection_id", type=int)
    stored, picks = None, []
    if selection_id:
        stored = selection_store.get_targeted_selection(engine, selection_id)
        text = "zh" if current_lang() == "zh" else "en"
        joined = stored.reasons.groupby("institution_code", sort=False)[text].agg(
            "；".join if text == "zh" else "; ".join
        )
        picks = [
            {
                "institution_code": row["institution_code"],
                "trigger": bool(row["trigger"]),
                "priority_rank": row["priority_rank"],
                "items": row["items"],
                "reasons": joined.get(row["institution_code"], ""),
            }
            for row in records(stored.selected)
        ]
    return render_template(
        "targeted.html",
        rows=records(selection_store.list_targeted_selections(engine)),
        stored=stored,
        picks=picks,
        can_write=current_principal().can("selections:write"),
        today=date.today(),
    )


@bp.route("/targeted", methods=["POST"])
@requires("selections:write")
def make_targeted():
    require_all_regions(t("targeted_title"))
    holder: dict = {}

    def select() -> None:
        try:
            as_of = date.fromisoformat(request.form.get("as_of", ""))
        except ValueError as error:
            raise ValueError(f"{t('as_of')}: YYYY-MM-DD") from error
        budget = request.form.get("budget", type=int)
        if budget is None or not 1 <= budget <= 100_000:
            raise ValueError(f"{t('budget')}: 1–100000")
        holder["selection"] = selection_store.select_and_save_targeted(
            current_engine(),
            as_of=as_of,
            budget=budget,
            grades=selection_store.latest_credit_grades(current_engine()),
            actor=_actor(),
        )

    response = _attempt(select, t("targeted_made"), url_for("dashboard.targeted"))
    if "selection" in holder:
        return redirect(url_for("dashboard.targeted", selection_id=holder["selection"].selection_id))
    return response


@bp.route("/targeted/<int(max=2147483647):selection_id>/leads.csv", methods=["GET"])
@requires("selections:read", audit_read="selection.leads.read")
def targeted_leads(selection_id: int):
    """The claims flagged at the selection's picks as of its date, as CSV for the visit teams."""
    from features.build import label_leads

    require_all_regions(t("targeted_title"))
    engine = current_engine()
    leads = selection_store.selection_leads(engine, selection_store.get_targeted_selection(engine, selection_id))
    body = "\ufeff" + label_leads(leads).to_csv(index=False)  # the BOM lets Excel read the Chinese
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="targeted-{selection_id}-leads.csv"'},
    )


# -- plan ------------------------------------------------------------------------------------


@bp.route("/plan", methods=["GET"])
@requires("plans:read")
def plan():
    plan_id = request.args.get("plan_id", type=int)
    stored = None
    if plan_id:
        require_all_regions("A stored plan")
        stored = selection_store.get_plan(current_engine(), plan_id)
    months = records(stored.months) if stored else []
    visits = records(stored.visits) if stored else []
    chart = None
    if months:
        numeric = [k for k in months[0] if k != "month" and isinstance(months[0][k], int | float)]
        chart = charts.stacked_bars(
            [str(m["month"]) for m in months],
            [
                charts.Series(plan_label(k), [m[k] or 0 for m in months], charts.PALETTE[i % len(charts.PALETTE)])
                for i, k in enumerate(numeric)
                if k not in ("capacity", "planned")
            ],
            title=t("plan_title"),
        )
    return render_template(
        "plan.html",
        stored=stored,
        months=months,
        visits=visits[:100],
        visit_total=len(visits),
        chart=chart,
        can_write=current_principal().can("plans:write"),
        year=date.today().year,
    )


_PLAN_LABELS = {
    "month": ("月份", "Month"),
    "capacity": ("检查能力", "Capacity"),
    "random": ("双随机", "Random"),
    "targeted": ("重点检查", "Targeted"),
    "routine": ("日常检查", "Routine"),
    "planned": ("已安排", "Planned"),
    "spare": ("剩余能力", "Spare"),
    "reserved": ("预留", "Reserved"),
    "institution_code": ("机构编码", "Institution"),
    "origin": ("来源", "Origin"),
    "items": ("检查事项", "Items"),
}


@bp.app_template_global()
def plan_label(key: str) -> str:
    zh, en = _PLAN_LABELS.get(key, (key, key))
    return en if current_lang() == "en" else zh


@bp.route("/plan", methods=["POST"])
@requires("plans:write")
def make_plan():
    from scoring.plan import PlanRules

    holder: dict = {}

    def build() -> None:
        rules = PlanRules(
            year=request.form.get("year", type=int) or date.today().year,
            visits_per_inspector_per_month=request.form.get("visits", type=int) or 4,
            team_size=request.form.get("team_size", type=int) or 2,
        )
        holder["plan"] = selection_store.plan_year(
            current_engine(),
            rules=rules,
            actor=_actor(),
            grades=selection_store.latest_credit_grades(current_engine()),
            draw_ids=[d for d in request.form.get("draw_ids", "").split() if d],
            regions=None if current_principal().regions is None else sorted(current_principal().regions),
        )

    response = _attempt(build, t("plan_made"), url_for("dashboard.plan"))
    if "plan" in holder:
        return redirect(url_for("dashboard.plan", plan_id=holder["plan"].plan_id))
    return response


# -- objections ------------------------------------------------------------------------------


@bp.route("/objections", methods=["GET"])
@requires("objections:read")
def objections():
    principal = current_principal()
    return render_template(
        "objections.html",
        objections=objections_api.objection_rows(),
        repairs=objections_api.repair_rows(),
        can_decide=principal.can("objections:decide"),
    )


@bp.route("/objections/<int(max=2147483647):objection_id>/decision", methods=["POST"])
@requires("objections:decide")
def decide_objection(objection_id: int):
    upheld = request.form.get("decision") == "uphold"
    note = request.form.get("note", "")
    return _attempt(
        lambda: objections_api.decide_objection(objection_id, upheld, note, _actor()),
        t("decided"),
        url_for("dashboard.objections"),
    )


@bp.route("/repairs/<int(max=2147483647):repair_id>/decision", methods=["POST"])
@requires("objections:decide")
def decide_repair(repair_id: int):
    approved = request.form.get("decision") == "approve"
    note = request.form.get("note", "")
    return _attempt(
        lambda: objections_api.decide_repair(repair_id, approved, note, _actor()),
        t("decided"),
        url_for("dashboard.objections"),
    )


def language_link(lang: str) -> str:
    args = request.args.to_dict()
    args["lang"] = lang
    return url_for(request.endpoint, **(request.view_args or {}), **args)


@bp.app_template_global()
def switch_language_url() -> str:
    return language_link("en" if current_lang() == "zh" else "zh")


@bp.app_template_global()
def page_url(page: int) -> str:
    args = request.args.to_dict()
    args["page"] = page
    return url_for(request.endpoint, **(request.view_args or {}), **args)
