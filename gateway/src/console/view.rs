//! The console's look: the page frame (navigation by permission, language switch, sign-out),
//! amounts, tables, the bar chart as SVG, and the sign-in, refusal and problem pages. maud
//! escapes every value written into the HTML.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use rust_decimal::Decimal;

use super::text::Lang;
use super::{Ctx, Problem};

/// The style sheet, ours and static.
const STYLE: &str = r#"
:root{--ink:#1f2937;--muted:#4b5563;--line:#d1d5db;--bg:#f3f4f6;--card:#fff;--brand:#1e3a8a;--accent:#1d4ed8;--ok:#166534;--bad:#991b1b}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;color:var(--ink);background:var(--bg)}
a{color:var(--accent)}
a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #f59e0b;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:6px;z-index:9}
header.top{background:var(--brand);color:#fff;display:flex;flex-wrap:wrap;align-items:center;gap:12px;padding:10px 20px}
header.top .brand{font-weight:700;font-size:17px;margin-right:auto}
header.top a,header.top button{color:#fff}
header.top .who{font-size:13px;opacity:.95}
header.top form{margin:0}
header.top button{background:transparent;border:1px solid #93c5fd;border-radius:4px;padding:3px 10px;cursor:pointer;font:inherit;font-size:13px}
nav.side{background:#fff;border-bottom:1px solid var(--line);padding:0 12px;overflow-x:auto;white-space:nowrap}
nav.side a{display:inline-block;padding:10px 12px;text-decoration:none;color:var(--ink);border-bottom:3px solid transparent}
nav.side a[aria-current=page]{border-bottom-color:var(--accent);color:var(--accent);font-weight:600}
main{padding:20px;max-width:1200px;margin:0 auto}
h1{font-size:22px;margin:4px 0 16px}h2{font-size:17px;margin:0 0 10px}
.grid{display:grid;gap:16px;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));margin-bottom:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin-bottom:16px;overflow-x:auto}
.grid .card{margin-bottom:0}
.stat .label{color:var(--muted);font-size:13px}.stat .value{font-size:24px;font-weight:600;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.03em;color:var(--muted);background:#f9fafb}
td.num,th.num{text-align:right;white-space:nowrap}
tfoot td{font-weight:700;border-top:2px solid var(--ink)}
.cur{color:var(--muted);font-size:12px;margin-right:3px}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;word-break:break-all}
form.inline{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-end;margin:0}
label{display:flex;flex-direction:column;font-size:13px;color:var(--muted);gap:3px}
input,select,textarea{font:inherit;padding:6px 8px;border:1px solid #9ca3af;border-radius:4px;color:var(--ink);background:#fff;min-width:0}
button.primary,button.danger,button.plain{font:inherit;padding:7px 14px;border-radius:4px;border:1px solid transparent;cursor:pointer}
button.primary{background:var(--accent);color:#fff}button.danger{background:#fff;color:var(--bad);border-color:var(--bad)}button.plain{background:#fff;border-color:#9ca3af}
.notice{background:#dcfce7;border:1px solid #86efac;color:var(--ok);padding:10px 14px;border-radius:6px;margin-bottom:16px}
.problem{background:#fee2e2;border:1px solid #fca5a5;color:var(--bad);padding:10px 14px;border-radius:6px;margin-bottom:16px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#e5e7eb}
.badge.pending,.badge.pending_payment{background:#fef3c7;color:#92400e}.badge.granted,.badge.paid{background:#dcfce7;color:var(--ok)}.badge.rejected{background:#fee2e2;color:var(--bad)}
.legend{display:flex;flex-wrap:wrap;gap:14px;font-size:13px;margin-top:6px}.legend i{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-1px}
.signin{max-width:420px;margin:60px auto}
.muted{color:var(--muted)}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}dl.kv dt{color:var(--muted)}dl.kv dd{margin:0}
@media (max-width:640px){main{padding:10px}header.top{padding:8px 10px}.stat .value{font-size:20px}th,td{padding:5px 4px}}
"#;

/// The colours of the chart's series (revenue, discounts, cost, gross profit): distinct, and
/// dark enough on white.
pub const SERIES_COLOURS: [&str; 4] = ["#1d4ed8", "#b45309", "#6b7280", "#15803d"];

fn frame(lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (lang.t("app")) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

/// The page of a signed-in person: the bar, the navigation their permissions allow, the page.
pub fn page(ctx: &Ctx, current: &str, title: &str, content: Markup) -> Response {
    let me = &ctx.me;
    let here = format!("/console{}", if current == "dashboard" { String::new() } else { format!("/{current}") });
    let links: Vec<(&str, &str, bool)> = vec![
        ("dashboard", "/console", true),
        ("approvals", "/console/approvals", ctx.can("approvals.read")),
        ("customers", "/console/customers", ctx.can("orgs.read") && !ctx.is_customer()),
        ("resellers", "/console/resellers", ctx.can("orgs.read") && !ctx.is_customer()),
        ("orders", "/console/orders", ctx.can("orders.read")),
        ("books", "/console/books", ctx.can("ledger.read")),
        ("settlements", "/console/settlements", ctx.can("settlements.read") || ctx.can("periods.close")),
        ("operations", "/console/operations", !ctx.is_customer()),
    ];
    let body = html! {
        a.skip href="#main" { (ctx.t("skip")) }
        header.top {
            span.brand { (ctx.t("app")) }
            span.who {
                (ctx.t("signed_in_as")) ": "
                strong { (me["user_name"].as_str().unwrap_or(me["label"].as_str().unwrap_or("—"))) }
                " · " (me["org_name"].as_str().unwrap_or("")) " · "
                (roles(me))
            }
            a href={ "/console/lang/" (ctx.lang.other().code()) "?back=" (here) } lang=(ctx.lang.other().code()) { (ctx.t("switch_lang")) }
            form method="post" action="/console/sign-out" {
                input type="hidden" name="csrf" value=(ctx.csrf);
                button type="submit" { (ctx.t("sign_out")) }
            }
        }
        nav.side aria-label=(ctx.t("menu")) {
            @for (key, href, shown) in &links {
                @if *shown {
                    a href=(href) aria-current=[(*key == current).then_some("page")] { (ctx.t(key)) }
                }
            }
        }
        main #main tabindex="-1" {
            h1 { (title) }
            (content)
        }
    };
    Html(frame(ctx.lang, title, body).into_string()).into_response()
}

fn roles(me: &serde_json::Value) -> String {
    me["roles"]
        .as_array()
        .map(|roles| roles.iter().filter_map(|r| r.as_str()).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

pub fn sign_in(lang: Lang, nonce: &str, error: Option<&str>) -> Html<String> {
    let body = html! {
        header.top { span.brand { (lang.t("app")) }
            a href={ "/console/lang/" (lang.other().code()) "?back=/console/sign-in" } lang=(lang.other().code()) { (lang.t("switch_lang")) } }
        main #main .signin {
            div.card {
                h1 { (lang.t("sign_in")) }
                @if let Some(error) = error { p.problem role="alert" { (error) } }
                form method="post" action="/console/sign-in" {
                    input type="hidden" name="csrf" value=(nonce);
                    label for="token" { (lang.t("token")) }
                    input #token type="password" name="token" autocomplete="off" required style="width:100%;margin:4px 0 6px" aria-describedby="token-help";
                    p #token-help .muted style="font-size:13px;margin:0 0 12px" { (lang.t("token_help")) }
                    button.primary type="submit" { (lang.t("sign_in")) }
                }
            }
        }
    };
    Html(frame(lang, lang.t("sign_in"), body).into_string())
}

/// A form that came without its CSRF token (or with another session's): refused.
pub fn csrf_refused(lang: Lang) -> Response {
    let body = html! {
        main #main .signin { div.card {
            h1 { "403" }
            p.problem role="alert" { (lang.t("csrf_refused")) }
            a href="/console" { (lang.t("back")) }
        } }
    };
    (StatusCode::FORBIDDEN, Html(frame(lang, "403", body).into_string())).into_response()
}

/// What the API refused, on a page: the title, the detail, the field at fault.
pub fn problem_box(ctx: &Ctx, problem: &Problem) -> Markup {
    html! {
        div.problem role="alert" {
            strong { (ctx.t("error")) ": " (problem.title) }
            @if !problem.detail.is_empty() { " — " (problem.detail) }
            @if let Some(field) = &problem.field { br; (ctx.t("field")) ": " code { (field) } }
        }
    }
}

pub fn problem_page(ctx: &Ctx, problem: &Problem, back: &str) -> Response {
    let status = if problem.status.is_client_error() { problem.status } else { StatusCode::BAD_GATEWAY };
    let content = html! { (problem_box(ctx, problem)) a href=(back) { (ctx.t("back")) } };
    let mut response = page(ctx, "", ctx.t("error"), content);
    *response.status_mut() = status;
    response
}

/// An amount with its currency: `CNY 1,000.00` (the digits exactly as the API wrote them,
/// grouped by thousands).
pub fn money(amount: &str, currency: &str) -> Markup {
    html! { span.cur { (currency) } " " span.amt { (group(amount)) } }
}

/// An RFC 3339 instant at `offset`, to the minute: `2026-01-15 17:00 +08:00`, or `… UTC` at
/// offset zero; text that is not an instant stays as it is (an empty field stays empty).
pub fn when(instant: &str, offset: chrono::FixedOffset) -> String {
    match chrono::DateTime::parse_from_rfc3339(instant) {
        Ok(at) => {
            let local = at.with_timezone(&offset);
            let zone = if offset.local_minus_utc() == 0 { "UTC".to_owned() } else { offset.to_string() };
            format!("{} {zone}", local.format("%Y-%m-%d %H:%M"))
        }
        Err(_) => instant.to_owned(),
    }
}

/// `1234567.50` → `1,234,567.50`; text that is not a decimal stays as it is.
pub fn group(amount: &str) -> String {
    let (sign, digits) = amount.strip_prefix('-').map_or(("", amount), |rest| ("-", rest));
    let (whole, fraction) = digits.split_once('.').map_or((digits, None), |(w, f)| (w, Some(f)));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return amount.to_owned();
    }
    let mut grouped = String::new();
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    match fraction {
        Some(fraction) => format!("{sign}{grouped}.{fraction}"),
        None => format!("{sign}{grouped}"),
    }
}

pub fn decimal(text: &str) -> Decimal {
    text.parse().unwrap_or_default()
}

pub fn badge(status: &str) -> Markup {
    html! { span class={ "badge " (status) } { (status) } }
}

/// One bar chart: per period, one bar per series; the heights scaled to the largest value
/// (exact decimals, rounded to a tenth of a pixel). `series` are the translated names.
pub fn bar_chart(title: &str, series: &[&str; 4], rows: &[(String, [Decimal; 4])], currency: &str) -> Markup {
    const HEIGHT: i64 = 180;
    const BAR: i64 = 14;
    const GAP: i64 = 22;
    let group_width = BAR * 4 + GAP;
    let width = (rows.len() as i64 * group_width).max(group_width) + 60;
    let largest = rows.iter().flat_map(|(_, values)| values.iter().copied()).fold(Decimal::ZERO, Decimal::max);
    let scale = |value: Decimal| -> Decimal {
        if largest <= Decimal::ZERO || value <= Decimal::ZERO {
            Decimal::ZERO
        } else {
            (value * Decimal::from(HEIGHT) / largest).round_dp(1)
        }
    };
    html! {
        figure style="margin:0" {
            svg role="img" aria-label=(title) viewBox={ "0 0 " (width) " " (HEIGHT + 40) } width="100%" height=(HEIGHT + 40) preserveAspectRatio="xMinYMin meet" {
                title { (title) }
                line x1="50" y1=(HEIGHT + 10) x2=(width) y2=(HEIGHT + 10) stroke="#9ca3af" {}
                text x="46" y="18" text-anchor="end" font-size="11" fill="#4b5563" { (group(&largest.round_dp(0).to_string())) }
                text x="46" y=(HEIGHT + 10) text-anchor="end" font-size="11" fill="#4b5563" { "0" }
                @for (index, (period, values)) in rows.iter().enumerate() {
                    @let x0 = 60 + index as i64 * group_width;
                    @for (s, value) in values.iter().enumerate() {
                        @let h = scale(*value);
                        rect x=(x0 + s as i64 * BAR) y=((Decimal::from(HEIGHT + 10) - h).to_string()) width=(BAR - 2) height=(h.to_string()) fill=(SERIES_COLOURS[s]) {
                            title { (series[s]) " " (period) ": " (currency) " " (group(&value.to_string())) }
                        }
                    }
                    text x=(x0 + BAR * 2) y=(HEIGHT + 28) text-anchor="middle" font-size="12" fill="#1f2937" { (period) }
                }
            }
            figcaption.legend {
                @for (s, name) in series.iter().enumerate() { span { i style={ "background:" (SERIES_COLOURS[s]) } {} (name) } }
            }
        }
    }
}
