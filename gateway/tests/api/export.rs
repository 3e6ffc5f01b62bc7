//! Exports a finance person can read. The CSV names each line's account and party and carries the
//! event's order, reference, narration and hash; the Beancount file names its accounts after the
//! chart and the parties, links each transaction to its event, and passes `bean-check`, including
//! a `balance` assertion per account taken from our trial balance (a tampered assertion fails
//! it, so the check is real); namesakes and Chinese names get accounts of their own. Downloads
//! are named after the book and the period.

use serde_json::json;

use crate::helpers::*;

fn bean_check(text: &str) -> std::process::Output {
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("book.beancount");
    std::fs::write(&file, text).unwrap();
    std::process::Command::new("bean-check")
        .arg(&file)
        .output()
        .expect("bean-check is installed (pip install beancount; ops/ sets it up)")
}

#[track_caller]
fn assert_bean_check_passes(text: &str) {
    let checked = bean_check(text);
    assert!(
        checked.status.success(),
        "bean-check refused:\n{}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// The hash of the event at `position`, as the log serves it.
async fn event_hash(app: &TestApp, position: u64) -> String {
    let event = app.get(&format!("/v1/events/{position}"), ADMIN_TOKEN).await.expect(200);
    event["hash"].as_str().expect("a hash").to_owned()
}

/// An offline recharge of `customer` in `book`, requested by `requester` and approved by
/// `approver`; answers the position of the confirmation.
async fn recharge_of(app: &TestApp, customer: &str, amount: &str, requester: &str, approver: &str) -> u64 {
    let body = json!({ "customer_id": customer, "amount": amount, "method": "offline", "reference": "slip 7" });
    let pending = app.post("/v1/recharges", requester, body).await.expect(202);
    let approval = pending["approval_id"].as_str().unwrap();
    app.post(&format!("/v1/approvals/{approval}/approve"), approver, json!({})).await.expect(200);
    app.log_position()
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer.headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or_default()
}

/// The lines of `text` that start with `prefix`.
fn lines_starting<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|line| line.starts_with(prefix)).collect()
}

#[tokio::test]
async fn the_csv_export_names_accounts_parties_orders_and_references() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "5000.00").await;
    let recharged_at = app.log_position();
    let order = buy(&app, &world).await;
    let refund = json!({ "amount": "100.00", "penalty": "10.00", "reason": "partial" });
    app.post(&format!("/v1/orders/{order}/refund"), &world.r2_finance, refund).await.expect(200);
    let refunded_at = app.log_position();
    let (recharge_hash, refund_hash) = (event_hash(&app, recharged_at).await, event_hash(&app, refunded_at).await);

    let path = |book: &str| format!("/v1/books/{book}/export?format=csv&from=2026-01-01&to=2026-01-31");
    let export = app.get(&path(&world.r2), &world.r2_finance).await;
    assert_eq!(export.status.as_u16(), 200, "{}", export.text);
    assert_eq!(header(&export, "content-type"), "text/csv; charset=utf-8");
    assert_eq!(header(&export, "content-disposition"), "attachment; filename=\"R2-2026-01-01-2026-01-31.csv\"");
    assert_eq!(
        export.text.lines().next(),
        Some(
            "position,entry_id,date,account,account_name,party,debit,credit,event_type,rule_id,pair_id,\
             party_name,order_id,reference,narration,event_hash"
        )
    );
    let (p, customer) = (recharged_at, &world.customer);
    assert_eq!(
        lines_starting(&export.text, &format!("{p},")),
        [
            format!(
                "{p},{p}-0,2026-01-15,1002,Bank deposits 银行存款,,5000.00,0.00,RechargeConfirmed,recharge.offline/seller,,,,\
                 slip 42,RechargeConfirmed: slip 42,{recharge_hash}"
            ),
            format!(
                "{p},{p}-0,2026-01-15,2203,Customer prepayments 预收账款,{customer},0.00,5000.00,RechargeConfirmed,\
                 recharge.offline/seller,,Customer C,,slip 42,RechargeConfirmed: slip 42,{recharge_hash}"
            ),
        ]
    );
    // The refund's reason is the seller's text: its book shows it beside the order.
    let refund_lines = lines_starting(&export.text, &format!("{refunded_at},"));
    let wallet_line = refund_lines.iter().find(|line| line.contains(",2203,")).expect("the refund credits the wallet");
    assert_eq!(
        *wallet_line,
        format!(
            "{refunded_at},{refunded_at}-0,2026-01-15,2203,Customer prepayments 预收账款,{customer},0.00,100.00,\
             OrderRefunded,refund/seller,,Customer C,{order},partial,\"OrderRefunded: partial, order {order}\",{refund_hash}"
        )
    );

    // R1's book names the order of its child's sale, but not the reason the child wrote.
    let upstream = app.get(&path(&world.r1), &world.r1_finance).await;
    assert_eq!(upstream.status.as_u16(), 200, "{}", upstream.text);
    let refund_lines = lines_starting(&upstream.text, &format!("{refunded_at},"));
    assert!(!refund_lines.is_empty(), "{}", upstream.text);
    for line in refund_lines {
        assert!(!line.contains("partial"), "{line}");
        assert!(line.ends_with(&format!(",{order},,OrderRefunded: order {order},{refund_hash}")), "{line}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_beancount_export_passes_bean_check_with_our_balances() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "2000.00").await;
    let recharged_at = app.log_position();
    let order = buy(&app, &world).await;
    let refund = json!({ "amount": "100.00", "penalty": "10.00", "reason": "partial" });
    app.post(&format!("/v1/orders/{order}/refund"), &world.r2_finance, refund).await.expect(200);
    for (book, token) in
        [(&world.r2, &world.r2_finance), (&world.r1, &world.r1_finance), (&world.platform, &world.admin)]
    {
        let export = app.get(&format!("/v1/books/{book}/export?format=beancount&to=2026-01-31"), token).await;
        assert_eq!(export.status.as_u16(), 200, "{}", export.text);
        assert!(export.text.contains(" balance "), "{}", export.text);
        assert_bean_check_passes(&export.text);
    }

    let export =
        app.get(&format!("/v1/books/{}/export?format=beancount&to=2026-01-31", world.r2), &world.r2_finance).await;
    assert_eq!(header(&export, "content-type"), "text/plain; charset=utf-8");
    assert_eq!(header(&export, "content-disposition"), "attachment; filename=\"R2-start-2026-01-31.beancount\"");
    assert!(export.text.starts_with("option \"title\" \"R2\"\n"), "{}", export.text);
    let opened = format!(
        "2026-01-15 open Liabilities:CustomerPrepayments:Customer-C CNY\n  code: \"2203\"\n  party_id: \"{}\"\n  \
         party_name: \"Customer C\"\n",
        world.customer
    );
    assert!(export.text.contains(&opened), "{}", export.text);
    assert!(
        export.text.contains("2026-01-15 open Liabilities:CustomerPrepayments CNY\n  code: \"2203\"\n  name: \"Customer prepayments 预收账款\"\n"),
        "{}",
        export.text
    );
    let p = recharged_at;
    let transaction = format!(
        "2026-01-15 * \"RechargeConfirmed: slip 42\"\n  position: {p}\n  entry_id: \"{p}-0\"\n  \
         event_type: \"RechargeConfirmed\"\n  event_hash: \"{}\"\n  Assets:BankDeposits  2000.00 CNY\n  \
         Liabilities:CustomerPrepayments:Customer-C  -2000.00 CNY\n",
        event_hash(&app, p).await
    );
    assert!(export.text.contains(&transaction), "{}", export.text);
    assert!(export.text.contains(&format!("* \"OrderPaid: order {order}\"\n")), "{}", export.text);
    let upstream =
        app.get(&format!("/v1/books/{}/export?format=beancount&to=2026-01-31", world.r1), &world.r1_finance).await;
    for account in ["Assets:Receivables:R2", "Liabilities:Payables:KBOSS"] {
        assert!(upstream.text.contains(&format!(" open {account} CNY\n")), "{account} in\n{}", upstream.text);
    }

    let tampered: String = export
        .text
        .lines()
        .map(|line| {
            if line.contains("balance Assets:BankDeposits ") {
                line.replace("2000.00", "1990.00")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(tampered.trim(), export.text.trim(), "the bank assertion is in the export");
    assert!(!bean_check(&tampered).status.success(), "bean-check accepted a wrong balance");
    app.stop().await;
}

#[tokio::test]
async fn namesakes_keep_accounts_of_their_own() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "2000.00").await;
    let namesake = open_org(&app, &world.r2_admin, "customer", "Customer C").await;
    recharge_of(&app, &namesake, "300.00", &world.r2_finance, &world.r2_finance_other).await;

    let export =
        app.get(&format!("/v1/books/{}/export?format=beancount&to=2026-01-31", world.r2), &world.r2_finance).await;
    assert_eq!(export.status.as_u16(), 200, "{}", export.text);
    assert_bean_check_passes(&export.text);
    let suffixed = format!("Liabilities:CustomerPrepayments:Customer-C-{}", &namesake.replace('-', "")[24..]);
    let postings = |account: &str| lines_starting(&export.text, &format!("  {account}  ")).join("\n");
    assert_eq!(
        postings("Liabilities:CustomerPrepayments:Customer-C"),
        "  Liabilities:CustomerPrepayments:Customer-C  -2000.00 CNY"
    );
    assert_eq!(postings(&suffixed), format!("  {suffixed}  -300.00 CNY"));
    assert!(export.text.contains(&format!("open {suffixed} CNY\n  code: \"2203\"\n  party_id: \"{namesake}\"\n")));
    app.stop().await;
}

#[tokio::test]
async fn chinese_names_give_valid_accounts_and_download_names() {
    let app = spawn_app(Options::default()).await;
    let reseller = open_org(&app, ADMIN_TOKEN, "reseller", "华东分销").await;
    let admin = token(&app, ADMIN_TOKEN, &reseller, &["admin"]).await;
    let finance = token(&app, &admin, &reseller, &["finance"]).await;
    let other_finance = token(&app, &admin, &reseller, &["finance"]).await;
    let customer = open_org(&app, &admin, "customer", "华为云").await;
    let recharged_at = recharge_of(&app, &customer, "800.00", &finance, &other_finance).await;

    let export = app.get(&format!("/v1/books/{reseller}/export?format=beancount&to=2026-01-31"), &finance).await;
    assert_eq!(export.status.as_u16(), 200, "{}", export.text);
    assert_bean_check_passes(&export.text);
    assert_eq!(
        header(&export, "content-disposition"),
        format!(
            "attachment; filename=\"{reseller}-start-2026-01-31.beancount\"; \
             filename*=UTF-8''%E5%8D%8E%E4%B8%9C%E5%88%86%E9%94%80-start-2026-01-31.beancount"
        )
    );
    let account = format!("Liabilities:CustomerPrepayments:Customer-{}", &customer.replace('-', "")[24..]);
    assert!(
        export.text.contains(&format!(
            "open {account} CNY\n  code: \"2203\"\n  party_id: \"{customer}\"\n  party_name: \"华为云\"\n"
        )),
        "{}",
        export.text
    );
    assert!(export.text.contains(&format!("  {account}  -800.00 CNY\n")), "{}", export.text);

    let csv = app.get(&format!("/v1/books/{reseller}/export?format=csv&to=2026-01-31"), &finance).await;
    let p = recharged_at;
    let line = lines_starting(&csv.text, &format!("{p},")).into_iter().find(|line| line.contains(",2203,"));
    assert_eq!(
        line.map(str::to_owned),
        Some(format!(
            "{p},{p}-0,2026-01-15,2203,Customer prepayments 预收账款,{customer},0.00,800.00,RechargeConfirmed,\
             recharge.offline/seller,,华为云,,slip 7,RechargeConfirmed: slip 7,{}",
            event_hash(&app, p).await
        ))
    );
    app.stop().await;
}
