//! DESIGN §2.5: one `OrderPaid` books exactly the lines of the table in the three books, and the
//! order shows its waterfall.

use ledger_core::chart::Side;
use ledger_core::event::EventPayload;
use ledger_core::ids::OrgId;
use ledger_core::journal::Entry;
use ledger_core::testing::WorkedExample;
use ledger_core::CommandBody;
use ledger_core::OrderCommand;

/// An entry as `Dr 2203[C] 950.00` strings, in booking order.
fn lines(entry: &Entry, names: &[(OrgId, &str)]) -> Vec<String> {
    entry
        .lines
        .iter()
        .map(|line| {
            let side = if line.side == Side::Debit { "Dr" } else { "Cr" };
            let party = line
                .party
                .map(|party| format!("[{}]", names.iter().find(|(id, _)| *id == party).map_or("?", |(_, name)| name)))
                .unwrap_or_default();
            format!("{side} {}{party} {}", line.account, line.amount)
        })
        .collect()
}

#[test]
fn one_order_paid_books_the_design_table_in_three_books() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let order_id = world.place_order();
    let customer = world.customer_actor.clone();
    let recorded = world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }));

    assert_eq!(recorded.len(), 1, "one event books every book");
    let event = &recorded[0];
    assert!(matches!(event.event.payload, EventPayload::OrderPaid(_)));
    let names = [
        (world.customer, "C"),
        (world.r1, "R1"),
        (world.r2, "R2"),
        (world.platform, "platform"),
        (world.supplier, "supplier"),
    ];
    let book = |org: OrgId| -> Vec<Vec<String>> {
        event.event.entries.iter().filter(|entry| entry.book == org).map(|entry| lines(entry, &names)).collect()
    };
    assert_eq!(
        book(world.r2),
        vec![
            vec!["Dr 2203[C] 950.00", "Dr 6001.99 50.00", "Cr 6001 1000.00"],
            vec!["Dr 6401 880.00", "Cr 2202[R1] 880.00"],
        ]
    );
    assert_eq!(
        book(world.r1),
        vec![
            vec!["Dr 1122[R2] 880.00", "Dr 6001.99 120.00", "Cr 6001 1000.00"],
            vec!["Dr 6401 800.00", "Cr 2202[platform] 800.00"],
        ]
    );
    assert_eq!(
        book(world.platform),
        vec![
            vec!["Dr 1122[R1] 800.00", "Dr 6001.99 200.00", "Cr 6001 1000.00"],
            vec!["Dr 6401 700.00", "Cr 2202[supplier] 700.00"],
        ]
    );
    assert_eq!(event.event.entries.len(), 6);
    for entry in &event.event.entries {
        assert_eq!(entry.date, world.ledger.today);
        assert!(entry.rule.id.starts_with("sale/") && entry.rule.version == 1, "{:?}", entry.rule);
    }
    assert_eq!(world.ledger.state.wallet(world.customer).balance.to_string(), "50.00");
}

#[test]
fn inter_company_lines_share_pair_ids() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let order_id = world.place_order();
    let customer = world.customer_actor.clone();
    let recorded = world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    let entries = &recorded[0].event.entries;
    let pair_of = |book: OrgId, account: &str| {
        entries
            .iter()
            .filter(|entry| entry.book == book)
            .flat_map(|entry| &entry.lines)
            .find(|line| line.account.as_str() == account)
            .and_then(|line| line.pair)
    };
    // 1122[R2] in R1 pairs with 2202[R1] in R2; 1122[R1] in the platform with 2202[platform] in R1.
    assert!(pair_of(world.r1, "1122").is_some());
    assert_eq!(pair_of(world.r1, "1122"), pair_of(world.r2, "2202"));
    assert_eq!(pair_of(world.platform, "1122"), pair_of(world.r1, "2202"));
    assert_ne!(pair_of(world.r1, "1122"), pair_of(world.platform, "1122"));
    // The supplier keeps no book, so the platform's payable to it has no mirror and no pair.
    assert_eq!(pair_of(world.platform, "2202"), None);
    assert!(ledger_core::invariants::violations(&world.ledger.state, &world.ledger.log).is_empty());
}

#[test]
fn the_order_shows_its_waterfall_and_gross_profits() {
    let mut world = WorkedExample::new();
    let order_id = world.place_order();
    let order = &world.ledger.state.orders[&order_id];
    let item = &order.items[0];
    assert_eq!(item.supplier_price.to_string(), "700.00");
    let levels: Vec<(OrgId, String, String, String, String)> = item
        .levels
        .iter()
        .map(|level| {
            (
                level.org_id,
                level.rate.to_string(),
                level.cost.to_string(),
                level.price.to_string(),
                level.margin.to_string(),
            )
        })
        .collect();
    assert_eq!(
        levels,
        vec![
            (world.platform, "0.80".into(), "700.00".into(), "800.00".into(), "100.00".into()),
            (world.r1, "0.88".into(), "800.00".into(), "880.00".into(), "80.00".into()),
            (world.r2, "0.95".into(), "880.00".into(), "950.00".into(), "70.00".into()),
        ]
    );
    assert_eq!(format!("{:?}", item.levels[2].rate_source), "Customer", "the customer rate beat the public 0.98");
    let margins = item.levels.iter().fold(rust_decimal::Decimal::ZERO, |sum, level| sum + level.margin.as_decimal());
    assert_eq!(margins, item.customer_price().as_decimal() - item.supplier_price.as_decimal());
    assert_eq!(order.total.to_string(), "950.00");
}

/// `kboss verify`'s inter-company check: a log forged so that R1's receivable from R2 says
/// 900.00 (its revenue discount 100.00, the entry still balanced) while R2 owes 880.00 is found
/// at the position that booked it, naming both books, the pair and the 20.00 they are off by.
#[test]
fn a_forged_inter_company_line_is_found_at_its_position() {
    use ledger_core::invariants::Audit;
    use ledger_core::money::Amount;
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let order_id = world.place_order();
    let customer = world.customer_actor.clone();
    let recorded = world.ledger.given(&customer, CommandBody::Orders(OrderCommand::PayOrder { order_id }));
    let position = recorded[0].position;
    let mut log = world.ledger.log.clone();
    let paid = log.iter_mut().find(|event| event.position == position).expect("the payment");
    let entry = paid
        .event
        .entries
        .iter_mut()
        .find(|entry| entry.book == world.r1 && entry.lines.iter().any(|line| line.account.as_str() == "1122"))
        .expect("R1's sale");
    for line in &mut entry.lines {
        match line.account.as_str() {
            "1122" => line.amount = Amount::parse("900.00").expect("an amount"),
            "6001.99" => line.amount = Amount::parse("100.00").expect("an amount"),
            _ => {}
        }
    }
    let mut audit = Audit::default();
    for event in &log {
        audit.observe(&world.ledger.state, event);
    }
    let found = audit.finish(&world.ledger.state);
    let kinds: Vec<(&str, Option<u64>)> = found.iter().map(|violation| (violation.kind, violation.position)).collect();
    assert_eq!(kinds, vec![("pair", Some(position)), ("intercompany", Some(position))], "{found:#?}");
    let intercompany = &found[1];
    let mut books = vec![world.r1, world.r2];
    books.sort();
    assert_eq!(intercompany.books, books);
    assert!(intercompany.detail.contains("net to 20.00"), "{}", intercompany.detail);
    assert!(found[0].detail.contains("2 lines netting 20.00"), "{}", found[0].detail);
}
