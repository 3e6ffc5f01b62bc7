//! A statement of more lines than a page: issued, its first page in the answer, the rest paged
//! through `GET /v1/settlements/{id}/lines`, every figure exact, and its hash recomputed from
//! the lines served, as an auditor would, from the definition alone (`ledger_core::statement`).

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::*;

/// Sales of the §2.5 product made at once; each books one 2202[supplier] line in the platform's
/// book (700.00, the supplier's cost).
const SALES: usize = 230;

/// The statement's hash, computed from its fields and lines as the API shows them: SHA-256 of
/// the compact JSON, fields in the documented order.
fn recomputed_hash(statement: &Value, lines: &[Value]) -> String {
    let text = |value: &Value| serde_json::to_string(value).unwrap();
    let lines: Vec<String> = lines
        .iter()
        .map(|line| {
            format!(
                r#"{{"position":{},"date":{},"account":{},"debit":{},"credit":{}}}"#,
                line["position"],
                text(&line["date"]),
                text(&line["account"]),
                text(&line["debit"]),
                text(&line["credit"])
            )
        })
        .collect();
    let canonical = format!(
        r#"{{"book":{},"counterparty_id":{},"from":{},"to":{},"through_position":{},"receivable":{},"payable":{},"lines":[{}]}}"#,
        text(&statement["org_id"]),
        text(&statement["counterparty_id"]),
        text(&statement["from"]),
        text(&statement["to"]),
        statement["through_position"],
        text(&statement["receivable"]),
        text(&statement["payable"]),
        lines.join(",")
    );
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Every line of a statement, following `next_cursor` from `first` with pages of `limit`;
/// answers the lines and the size of each page.
async fn all_lines(app: &TestApp, token: &str, id: &str, first: &Value, limit: usize) -> (Vec<Value>, Vec<usize>) {
    let mut lines = first["lines"].as_array().unwrap().clone();
    let mut pages = vec![lines.len()];
    let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
    while let Some(after) = cursor {
        let page =
            app.get(&format!("/v1/settlements/{id}/lines?cursor={after}&limit={limit}"), token).await.expect(200);
        let items = page["items"].as_array().unwrap();
        pages.push(items.len());
        lines.extend(items.iter().cloned());
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    (lines, pages)
}

#[tokio::test]
async fn a_statement_longer_than_a_page_is_paged_and_its_lines_hash_to_its_hash() {
    let app = spawn_app(Options::default()).await;
    let world = build_world(&app).await;
    recharge(&app, &world, "250000.00").await;
    for chunk in (0..SALES).collect::<Vec<_>>().chunks(16) {
        futures::future::join_all(chunk.iter().map(|_| buy(&app, &world))).await;
    }
    // One sale half refunded: its share of the supplier's cost comes back (a 350.00 debit).
    let order = buy(&app, &world).await;
    let refund = json!({ "amount": "475.00", "reason": "downgrade" });
    app.post(&format!("/v1/orders/{order}/refund"), &world.r2_finance, refund).await.expect(200);

    app.clock.set(date("2026-02-02"));
    let request = json!({ "org_id": world.platform, "counterparty_id": world.supplier, "from": "2026-01-01", "to": "2026-01-31" });
    let statement = app.post("/v1/settlements", &world.admin, request.clone()).await.expect(201);
    // 231 sales and one refund: 232 lines, 231 × 700.00 − 350.00 owed to the supplier.
    assert_eq!(
        (&statement["receivable"], &statement["payable"], &statement["total"]),
        (&json!("0.00"), &json!("161350.00"), &json!("161350.00"))
    );
    assert_eq!(statement["lines"].as_array().unwrap().len(), 100, "the first page, of the default size");
    let id = statement["id"].as_str().unwrap().to_owned();

    let (lines, pages) = all_lines(&app, &world.admin, &id, &statement, 100).await;
    assert_eq!(pages, [100, 100, 32]);
    let credits = lines.iter().filter(|line| line["credit"] == "700.00" && line["debit"] == "0.00").count();
    let debits = lines.iter().filter(|line| line["debit"] == "350.00" && line["credit"] == "0.00").count();
    assert_eq!((lines.len(), credits, debits), (232, 231, 1));
    assert!(lines.iter().all(|line| line["account"] == "2202" && line["date"] == "2026-01-15"));
    let positions: Vec<u64> = lines.iter().map(|line| line["position"].as_u64().unwrap()).collect();
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "in the order of the log");
    assert!(*positions.last().unwrap() <= statement["through_position"].as_u64().unwrap());
    assert_eq!(recomputed_hash(&statement, &lines), statement["statement_hash"].as_str().unwrap());

    // Other page sizes give the same lines; the last page says there is no next one.
    let (by_77, pages) = all_lines(&app, &world.admin, &id, &statement, 77).await;
    assert_eq!((by_77, pages), (lines.clone(), vec![100, 77, 55]));
    let whole = app.get(&format!("/v1/settlements/{id}/lines?limit=500"), &world.admin).await.expect(200);
    assert_eq!((whole["items"].as_array().unwrap(), &whole["next_cursor"]), (&lines, &Value::Null));

    // The statement read back, and asked for again, is the same, first page and cursor included.
    let read = app.get(&format!("/v1/settlements/{id}"), &world.admin).await.expect(200);
    assert_eq!(read, statement);
    let again = app.post("/v1/settlements", &world.admin, request).await.expect(201);
    assert_eq!(again, statement);
    let listed = app.get(&format!("/v1/books/{}/settlements", world.platform), &world.admin).await.expect(200);
    assert_eq!(listed["items"], json!([statement]));

    // A cursor this endpoint did not issue, or a page past the limit, is refused; another
    // tenant's statement is not found.
    let bad = app.get(&format!("/v1/settlements/{id}/lines?cursor=l1.1.2.3"), &world.admin).await;
    assert_eq!((bad.status.as_u16(), bad.code()), (400, "bad_request"));
    let bad = app.get(&format!("/v1/settlements/{id}/lines?limit=501"), &world.admin).await;
    assert_eq!((bad.status.as_u16(), bad.code()), (400, "bad_request"));
    let hidden = app.get(&format!("/v1/settlements/{id}/lines"), &world.r1_finance).await;
    assert_eq!((hidden.status.as_u16(), hidden.code()), (404, "not_found"));
}
