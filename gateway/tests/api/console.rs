//! The finance console (`/console`) in a real browser: Debian's Chromium, headless, driven
//! through chromedriver (WebDriver) by fantoccini, against the real server on port 0 with the
//! world of DESIGN §2.5. Each page visited is saved as a PNG under
//! `target/console-screenshots/` for a reviewer. Without `/usr/bin/chromium` and
//! `/usr/bin/chromedriver` (`ops/test` installs them) the test fails; it never skips.
//!
//! Also, without a browser: the session cookie's flags, a form without its CSRF token refused,
//! the language chosen by `Accept-Language`, HTML escaped.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver and the Chromium it starts, in a process group of their own: all stopped when
/// dropped, also when an assertion fails before the session is closed.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshots' directory");
    dir
}

async fn start_browser() -> (Driver, Client) {
    for program in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            std::path::Path::new(program).exists(),
            "{program} is missing: install Debian's chromium and chromium-driver (ops/test does)"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(CHROMEDRIVER)
        .process_group(0)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--lang=en-US", "--hide-scrollbars"],
            "prefs": { "intl.accept_languages": "en-US,en" }
        }
    });
    let capabilities = capabilities.as_object().unwrap().clone();
    let url = format!("http://127.0.0.1:{port}");
    // chromedriver takes a moment to listen: a bounded number of tries.
    let mut last_error = None;
    for _ in 0..100 {
        let builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&url)
            .await;
        match builder {
            Ok(client) => return (driver, client),
            Err(error) => {
                last_error = Some(error.to_string());
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
    panic!("chromedriver did not answer: {last_error:?}");
}

struct Browser {
    client: Client,
    base: String,
}

impl Browser {
    async fn open(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.expect("the page opens");
    }

    async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.expect("its text"),
            Err(error) => {
                let url = self.client.current_url().await.map(|url| url.to_string()).unwrap_or_default();
                let body = match self.client.find(Locator::Css("body")).await {
                    Ok(body) => body.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                panic!("{css} is not on the page {url}: {error}\n{body}")
            }
        }
    }

    async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await.unwrap() {
            texts.push(element.text().await.unwrap());
        }
        texts
    }

    async fn page(&self) -> String {
        self.text("body").await
    }

    /// Clicks a link or a form's button, and waits for the page it leads to: every click here
    /// navigates, and WebDriver may answer the click before the browser has left the old page.
    async fn click(&self, css: &str) {
        let old = self.client.find(Locator::Css("html")).await.expect("a page");
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} on the page: {e}"))
            .click()
            .await
            .unwrap();
        for _ in 0..200 {
            // The old document's element goes stale once the new page has replaced it.
            if old.attr("lang").await.is_err() {
                let ready = self.client.execute("return document.readyState", vec![]).await;
                if ready.is_ok_and(|state| state == "complete") {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("clicking {css} did not lead to a new page");
    }

    async fn fill(&self, css: &str, value: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css} on the page: {e}"));
        element.clear().await.unwrap();
        element.send_keys(value).await.unwrap();
    }

    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(screenshots().join(format!("{name}.png")), png).expect("the screenshot is saved");
    }

    async fn sign_in(&self, token: &str) {
        self.open("/console/sign-in").await;
        self.fill("#token", token).await;
        self.click("button[type=submit]").await;
        assert!(self.page().await.contains("Sign out"), "signed in: {}", self.page().await);
    }

    async fn sign_out(&self) {
        self.click("form[action='/console/sign-out'] button").await;
        let url = self.client.current_url().await.unwrap();
        assert!(url.path().ends_with("/console/sign-in"), "signed out, the browser is at {url}");
    }

    /// `(debit, credit)` of one account's row in the trial balance on screen.
    async fn account(&self, code: &str) -> (String, String) {
        let row = format!("#trial-balance tr[data-account='{code}']");
        (self.text(&format!("{row} td.debit")).await, self.text(&format!("{row} td.credit")).await)
    }

    fn pair(debit: &str, credit: &str) -> (String, String) {
        (debit.to_owned(), credit.to_owned())
    }
}

#[tokio::test]
async fn the_finance_console_in_a_browser_books_the_designs_figures() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let platform_finance = token(&app, &world.admin, &world.platform, &["finance"]).await;
    // Another customer of R2, with an order of its own: never on customer C's screens.
    let other = open_org(&app, &world.r2_admin, "customer", "Customer D").await;
    let body = json!({ "customer_id": other, "items": [{ "product_id": world.product, "quantity": 1, "periods": 1 }] });
    let other_order =
        app.post("/v1/orders", &world.r2_admin, body).await.expect(201)["id"].as_str().unwrap().to_owned();
    // The offline recharge, requested by one of R2's finance people (through the API).
    let body =
        json!({ "customer_id": world.customer, "amount": "950.00", "method": "offline", "reference": "slip 42" });
    app.post("/v1/recharges", &world.r2_finance, body).await.expect(202);

    // A token the customer no longer needs (a lost phone): revoked from the console below.
    let body = json!({ "roles": ["customer"], "label": "lost phone" });
    let lost = app.post(&format!("/v1/orgs/{}/tokens", world.customer), &world.r2_admin, body).await.expect(201);
    let lost_token = lost["token"].as_str().unwrap().to_owned();
    app.get("/v1/me", &lost_token).await.expect(200);

    let (_driver, client) = start_browser().await;
    let browser = Browser { client, base: app.address.clone() };

    // `/` leads to the console, which asks for a sign-in.
    browser.open("/").await;
    assert!(browser.client.current_url().await.unwrap().path().ends_with("/console/sign-in"));
    browser.shot("01-sign-in").await;

    // The platform's finance person: the dashboard and the platform's (still empty) books.
    browser.sign_in(&platform_finance).await;
    let dashboard = browser.page().await;
    assert!(dashboard.contains("Revenue") && dashboard.contains("Pending approvals"), "{dashboard}");
    assert!(dashboard.contains("Projection lag"));
    browser.shot("02-dashboard-platform-finance").await;
    browser.open("/console/approvals").await;
    // The request is in R2's book: not the platform's to see.
    assert!(!browser.page().await.contains("slip 42"));
    browser.sign_out().await;

    // Another of R2's finance people approves it, seeing what it would book.
    browser.sign_in(&world.r2_finance_other).await;
    browser.open("/console/approvals").await;
    let pending = browser.text("#pending-approvals").await;
    assert!(pending.contains("slip 42") && pending.contains("950.00") && pending.contains("Customer C"), "{pending}");
    assert!(pending.contains("1002") && pending.contains("2203"), "what it would book: {pending}");
    browser.shot("03-approvals-pending").await;
    // A form whose CSRF token was taken out is refused, and decides nothing.
    browser
        .client
        .execute("document.querySelector('#pending-approvals input[name=csrf]').remove()", vec![])
        .await
        .unwrap();
    browser.click("#pending-approvals button[value=approve]").await;
    assert!(browser.page().await.contains("security token is missing"), "{}", browser.page().await);
    browser.shot("04-csrf-refused").await;
    browser.open("/console/approvals").await;
    browser.fill("#pending-approvals input[name=comment]", "slip checked").await;
    browser.click("#pending-approvals button[value=approve]").await;
    assert!(browser.page().await.contains("Done."));
    let history = browser.text("#history").await;
    assert!(history.contains("granted") && history.contains("slip checked"), "{history}");
    browser.shot("05-approvals-history").await;
    // The customer's balance, from their profile.
    browser.open("/console/customers").await;
    browser.shot("06-customers").await;
    browser.open(&format!("/console/customers/{}", world.customer)).await;
    assert_eq!(browser.text("#customer-balance dd.balance").await, "CNY 950.00");
    // This month's statement: the recharge, and the wallet after it.
    let statement = browser.text("#statement-totals").await;
    assert!(statement.contains("CNY 0.00") && statement.contains("CNY 950.00"), "{statement}");
    let movements = browser.texts("#statement tbody tr").await;
    assert_eq!(movements.len(), 1, "{movements:?}");
    assert!(movements[0].contains("recharge") && movements[0].contains("950.00"), "{movements:?}");
    // Finance people manage no one's tokens: the section is not theirs.
    assert!(browser.client.find(Locator::Css("#tokens")).await.is_err());
    browser.shot("07-customer-profile").await;
    browser.sign_out().await;

    // The customer places and pays the order.
    browser.sign_in(&world.customer_token).await;
    assert_eq!(browser.text("#balance-total").await, "CNY 950.00");
    browser.shot("08-customer-home").await;
    browser.click("#place").await;
    assert_eq!(browser.text("#order-total").await, "CNY 950.00");
    browser.shot("09-order-placed").await;
    browser.click("#pay").await;
    assert!(browser.text("#order-status").await.contains("paid"));
    assert_eq!(browser.text("#order-total").await, "CNY 950.00");
    // The customer sees the price, and nobody's margins.
    assert!(browser.page().await.contains("The margins along the chain are not yours to see."));
    let order_path = browser.client.current_url().await.unwrap().path().to_owned();
    browser.shot("10-order-paid-customer").await;
    // Never another customer: not in their lists, not by its address.
    browser.open("/console/orders").await;
    let orders = browser.page().await;
    assert!(!orders.contains("Customer D") && !orders.contains(&other_order[..8]), "{orders}");
    browser.open(&format!("/console/orders/{other_order}")).await;
    let refused = browser.page().await;
    assert!(refused.contains("The ledger refused this") && !refused.contains("Customer D"), "{refused}");
    browser.open(&format!("/console/customers/{other}")).await;
    let refused = browser.page().await;
    assert!(!refused.contains("Customer D"), "{refused}");
    browser.shot("11-customer-refused-other").await;
    browser.sign_out().await;

    // The three trial balances, exactly as DESIGN §2.5, each read by the book's finance person.
    let pair = Browser::pair;
    browser.sign_in(&world.r2_finance).await;
    browser.open("/console/books").await;
    assert_eq!(browser.account("2203").await, pair("950.00", "950.00"));
    assert_eq!(browser.account("6001.99").await, pair("50.00", "0.00"));
    assert_eq!(browser.account("6001").await, pair("0.00", "1,000.00"));
    assert_eq!(browser.account("6401").await, pair("880.00", "0.00"));
    assert_eq!(browser.account("2202").await, pair("0.00", "880.00"));
    browser.shot("12-trial-balance-r2").await;
    // The trial balance → the account's ledger → the event that booked the line.
    browser.click("#trial-balance tr[data-account='2202'] a").await;
    let ledger = browser.text("#ledger").await;
    // R1, R2's supplier in this sale, is a parent org R2 may not read: shown by its id.
    assert!(ledger.contains(&world.r1[..8]) && ledger.contains("880.00") && ledger.contains("OrderPaid"), "{ledger}");
    browser.shot("13-ledger-2202-r2").await;
    browser.click("#ledger tbody tr a").await;
    assert_eq!(browser.text("#event-type").await, "OrderPaid");
    let position: u64 = browser.text("#event-position").await.parse().unwrap();
    let event = app.get(&format!("/v1/events/{position}"), &world.r2_finance).await.expect(200);
    assert_eq!(browser.text("#event-hash").await, event["hash"].as_str().unwrap());
    assert!(browser.text("#event-prev-hash").await.starts_with(event["prev_hash"].as_str().unwrap()));
    // The entries it booked in R2's book, line by line: Dr 2203[C] 950.00, Dr 6001.99 50.00,
    // Cr 6001 1,000.00; Dr 6401 880.00, Cr 2202[R1] 880.00.
    let line = |account: &'static str| format!("table.entry tr[data-account='{account}'] td");
    assert_eq!(browser.texts(&line("2203")).await[2..], ["950.00", ""]);
    assert_eq!(browser.texts(&line("6001.99")).await[2..], ["50.00", ""]);
    assert_eq!(browser.texts(&line("6001")).await[2..], ["", "1,000.00"]);
    assert_eq!(browser.texts(&line("6401")).await[2..], ["880.00", ""]);
    assert_eq!(browser.texts(&line("2202")).await[2..], ["", "880.00"]);
    browser.shot("14-event").await;
    // The link to the one before it in the chain (the customer's own order: not R2's to open;
    // the platform's super_admin follows it below).
    let previous = browser.client.find(Locator::Css("#previous-event")).await.unwrap().attr("href").await.unwrap();
    assert_eq!(previous.as_deref(), Some(format!("/console/events/{}", position - 1).as_str()));
    // The dashboard's figures for R2's book (January).
    browser.open("/console").await;
    let january = browser.texts("#kpi-months tr[data-period='2026-01'] td").await;
    assert_eq!(january, ["2026-01", "1,000.00", "50.00", "880.00", "70.00"]);
    browser.shot("15-dashboard-r2").await;
    browser.open("/console/settlements").await;
    browser.shot("16-settlements-r2").await;
    browser.sign_out().await;

    browser.sign_in(&world.r1_finance).await;
    browser.open("/console/books").await;
    assert_eq!(browser.account("1122").await, pair("880.00", "0.00"));
    assert_eq!(browser.account("6001.99").await, pair("120.00", "0.00"));
    assert_eq!(browser.account("6001").await, pair("0.00", "1,000.00"));
    assert_eq!(browser.account("6401").await, pair("800.00", "0.00"));
    assert_eq!(browser.account("2202").await, pair("0.00", "800.00"));
    browser.shot("17-trial-balance-r1").await;
    browser.sign_out().await;

    browser.sign_in(&platform_finance).await;
    browser.open("/console/books").await;
    assert_eq!(browser.account("1122").await, pair("800.00", "0.00"));
    assert_eq!(browser.account("6001.99").await, pair("200.00", "0.00"));
    assert_eq!(browser.account("6001").await, pair("0.00", "1,000.00"));
    assert_eq!(browser.account("6401").await, pair("700.00", "0.00"));
    assert_eq!(browser.account("2202").await, pair("0.00", "700.00"));
    browser.shot("18-trial-balance-platform").await;
    browser.open("/console/operations").await;
    assert_eq!(browser.text("#writer-position").await, app.log_position().to_string());
    browser.shot("19-operations").await;
    browser.sign_out().await;

    // The waterfall as the platform's super_admin may see it: every level's margin.
    browser.sign_in(&world.admin).await;
    browser.open(&order_path).await;
    let margin = |org: &str| format!(".waterfall tr[data-org='{org}'] td.margin");
    assert_eq!(browser.text(&margin(&world.platform)).await, "100.00");
    assert_eq!(browser.text(&margin(&world.r1)).await, "80.00");
    assert_eq!(browser.text(&margin(&world.r2)).await, "70.00");
    assert_eq!(browser.text("#order-total").await, "CNY 950.00");
    browser.shot("20-order-waterfall-admin").await;
    browser.open(&format!("/console/events/{position}")).await;
    browser.click("#previous-event").await;
    assert_eq!(browser.text("#event-position").await, (position - 1).to_string());
    assert_eq!(browser.text("#event-type").await, "OrderPlaced");
    // The lost phone's token, revoked from the customer's profile with a reason.
    browser.open(&format!("/console/customers/{}", world.customer)).await;
    let row = "#tokens tbody tr";
    let mut lost_id = None;
    for element in browser.client.find_all(Locator::Css(row)).await.unwrap() {
        if element.text().await.unwrap().contains("lost phone") {
            lost_id = element.attr("data-token").await.unwrap();
        }
    }
    let lost_id = lost_id.expect("the lost phone's token is listed");
    browser.fill(&format!("#tokens tr[data-token='{lost_id}'] input[name=reason]"), "phone lost").await;
    browser.click(&format!("#tokens tr[data-token='{lost_id}'] button")).await;
    assert!(browser.page().await.contains("Done."), "{}", browser.page().await);
    assert!(browser.text(&format!("#tokens tr[data-token='{lost_id}']")).await.contains("revoked"));
    let revoked = app.get(&format!("/v1/tokens/{lost_id}"), &world.r2_admin).await.expect(200);
    assert_eq!(revoked["revoke_reason"], "phone lost");
    app.get("/v1/me", &lost_token).await.expect(401);
    // The platform's super_admin sees the customer's order, sold by R2.
    let order_id = order_path.rsplit('/').next().unwrap().to_owned();
    assert!(browser.text("#customer-orders").await.contains(&order_id[..8]));
    browser.shot("21-token-revoked").await;
    browser.open(&order_path).await;
    // In Chinese, by the switch.
    browser.click(".top a[lang='zh-CN']").await;
    assert!(browser.page().await.contains("价格瀑布"));
    browser.shot("22-order-waterfall-zh").await;
    // On a narrow screen.
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.open("/console").await;
    browser.shot("23-dashboard-narrow-zh").await;

    browser.client.close().await.unwrap();
}

#[tokio::test]
async fn console_sessions_are_http_only_strict_and_forms_need_their_csrf_token() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let base = &app.address;

    // `/` and an unsigned visit lead to the sign-in, in the browser's language.
    let root = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(root.headers()["location"], "/console");
    let unsigned = client.get(format!("{base}/console/orders")).send().await.unwrap();
    assert_eq!(unsigned.headers()["location"], "/console/sign-in");
    let page = client
        .get(format!("{base}/console/sign-in"))
        .header("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8")
        .send()
        .await
        .unwrap();
    let nonce_cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(nonce_cookie.contains("HttpOnly") && nonce_cookie.contains("SameSite=Strict"), "{nonce_cookie}");
    let html = page.text().await.unwrap();
    assert!(html.contains("<html lang=\"zh-CN\"") && html.contains("访问令牌"), "{html}");
    let nonce = nonce_cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();

    // The sign-in form itself needs its token (a double-submit cookie).
    let refused = client
        .post(format!("{base}/console/sign-in"))
        .header("Cookie", format!("kboss_signin={nonce}"))
        .form(&[("token", world.r2_finance.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let bad_token = client
        .post(format!("{base}/console/sign-in"))
        .header("Cookie", format!("kboss_signin={nonce}"))
        .form(&[("token", "kb_not-a-token"), ("csrf", nonce.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.status(), 401);
    let signed = client
        .post(format!("{base}/console/sign-in"))
        .header("Cookie", format!("kboss_signin={nonce}"))
        .form(&[("token", world.r2_finance.as_str()), ("csrf", nonce.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let session = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|line| line.starts_with("kboss_session="))
        .expect("a session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict") && session.contains("Path=/console"));
    assert!(!session.contains(&world.r2_finance), "the token never goes back to the browser");
    let cookie = session.split(';').next().unwrap().to_owned();

    // A recharge waits; approving it from the console without the form's token is refused.
    let body = json!({ "customer_id": world.customer, "amount": "10.00", "method": "offline", "reference": "slip 7" });
    let approval = app.post("/v1/recharges", &world.r2_finance_other, body).await.expect(202)["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = client.get(format!("{base}/console/approvals")).header("Cookie", &cookie).send().await.unwrap();
    let html = page.text().await.unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let decide = format!("{base}/console/approvals/{approval}/decide");
    for form in [vec![("action", "approve")], vec![("action", "approve"), ("csrf", "0000")]] {
        let refused = client.post(&decide).header("Cookie", &cookie).form(&form).send().await.unwrap();
        assert_eq!(refused.status(), 403);
    }
    let still = app.get(&format!("/v1/approvals/{approval}"), &world.r2_finance).await.expect(200);
    assert_eq!(still["status"], "pending");
    // With it, the approval goes through the API's command (and its rules: another person).
    let granted = client
        .post(&decide)
        .header("Cookie", &cookie)
        .form(&[("action", "approve"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 303);
    let decided = app.get(&format!("/v1/approvals/{approval}"), &world.r2_finance).await.expect(200);
    assert_eq!(decided["status"], "granted");

    // What people typed is escaped.
    open_org(&app, &world.r2_admin, "customer", "<script>alert(1)</script>").await;
    let html = client
        .get(format!("{base}/console/customers"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>alert"), "{html}");

    // A bad field is named on the page (never a 500).
    let bad =
        client.get(format!("{base}/console/books?as_of=yesterday")).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(bad.status(), 200);
    let html = bad.text().await.unwrap();
    assert!(html.contains("class=\"problem\"") && html.contains("<code>as_of</code>"), "{html}");

    // Signed out, the session is gone.
    let out = client
        .post(format!("{base}/console/sign-out"))
        .header("Cookie", &cookie)
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let after = client.get(format!("{base}/console")).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(after.headers()["location"], "/console/sign-in");
}
