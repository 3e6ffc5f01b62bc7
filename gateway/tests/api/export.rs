//! The Beancount export passes `bean-check`, including a `balance` assertion per account taken
//! from our trial balance; a tampered assertion fails it (so the check is real).

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

#[tokio::test]
async fn the_beancount_export_passes_bean_check_with_our_balances() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "2000.00").await;
    let order = buy(&app, &world).await;
    let refund = json!({ "amount": "100.00", "penalty": "10.00", "reason": "partial" });
    app.post(&format!("/v1/orders/{order}/refund"), &world.r2_finance, refund).await.expect(200);
    for (book, token) in
        [(&world.r2, &world.r2_finance), (&world.r1, &world.r1_finance), (&world.platform, &world.admin)]
    {
        let export = app.get(&format!("/v1/books/{book}/export?format=beancount&to=2026-01-31"), token).await;
        assert_eq!(export.status.as_u16(), 200, "{}", export.text);
        assert!(export.text.contains(" balance "), "{}", export.text);
        let checked = bean_check(&export.text);
        assert!(
            checked.status.success(),
            "bean-check refused:\n{}\n{}",
            String::from_utf8_lossy(&checked.stdout),
            export.text
        );
    }
    let export =
        app.get(&format!("/v1/books/{}/export?format=beancount&to=2026-01-31", world.r2), &world.r2_finance).await;
    let tampered: String =
        export
            .text
            .lines()
            .map(|line| {
                if line.contains("balance Assets:A1002 ") {
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
