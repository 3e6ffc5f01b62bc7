//! Given/when/then tests of invoices as a finance team handles them (issue 12): requested with
//! what they print and their tax, ordinary ones issued by finance, special ones by their
//! approval, delivered, voided, red-lettered, and the invoiceable amount exact through refunds.

mod common;

use common::*;
use ledger_core::command::InvoiceDetails;
use ledger_core::event::*;
use ledger_core::ids::{InvoiceId, OrderId};
use ledger_core::money::Total;
use ledger_core::testing::{amount, id, rate, WorkedExample};
use ledger_core::{ApprovalCommand, CommandBody, OrderCommand, SettlementCommand};

fn details(invoice_type: InvoiceType, order_ids: Vec<OrderId>) -> InvoiceDetails {
    InvoiceDetails {
        invoice_type,
        title: " Customer C Ltd ".into(),
        tax_id: Some("91330100MA2XXXXXX".into()),
        address: (invoice_type == InvoiceType::Special).then(|| "Hangzhou 0571-0000".into()),
        bank_account: (invoice_type == InvoiceType::Special).then(|| "CMB 6214".into()),
        order_ids,
        tax_rate: None,
    }
}

fn request(world: &WorkedExample, invoice: u128, value: &str, details: InvoiceDetails) -> CommandBody {
    SettlementCommand::RequestInvoice {
        invoice_id: id(invoice),
        approval_id: id(invoice + 1),
        customer_id: world.customer,
        amount: amount(value),
        details: Some(details),
    }
    .into()
}

fn invoiceable(world: &WorkedExample) -> Total {
    world.ledger.state.invoiceable.get(&world.customer).copied().unwrap_or_default()
}

#[test]
fn an_ordinary_invoice_is_requested_with_its_tax_then_issued_delivered_and_red_lettered() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let order = world.place_order();
    world.pay_order(order);
    let customer = world.customer_actor.clone();
    let events =
        world.ledger.given(&customer, request(&world, 700, "950.00", details(InvoiceType::Ordinary, vec![order])));
    assert_eq!(
        events[0].event.payload,
        EventPayload::InvoiceRequested(InvoiceRequested {
            invoice_id: id(700),
            customer_id: world.customer,
            book: world.r2,
            invoice_type: InvoiceType::Ordinary,
            title: "Customer C Ltd".into(),
            tax_id: Some("91330100MA2XXXXXX".into()),
            address: None,
            bank_account: None,
            order_ids: vec![order],
            amount: amount("950.00"),
            tax_rate: rate("0.06"),
            // 950.00 × 0.06 / 1.06 = 53.773… → 53.77
            tax_amount: amount("53.77"),
        })
    );
    assert_eq!(events.len(), 1, "an ordinary invoice waits for no approval");
    // Finance issues it; the customer cannot.
    let issue: CommandBody = SettlementCommand::IssueInvoice { invoice_id: id(700) }.into();
    assert_eq!(refused(world.ledger.decide(&customer, issue.clone())).code(), "not_found");
    let finance = world.r2_finance.clone();
    assert_eq!(types(&events_of(&world.ledger.given(&finance, issue.clone()))), vec!["InvoiceIssued"]);
    assert_eq!(invoiceable(&world), Total::ZERO);
    assert_eq!(refused(world.ledger.decide(&finance, issue)).code(), "invoice_state");
    world.ledger.given(&finance, SettlementCommand::DeliverInvoice { invoice_id: id(700) }.into());
    // Delivered: no longer voided, only red-lettered.
    let void: CommandBody = SettlementCommand::VoidInvoice { invoice_id: id(700), reason: "x".into() }.into();
    assert_eq!(refused(world.ledger.decide(&finance, void)).code(), "invoice_state");

    // A refund of 300.00 leaves 300.00 invoiced beyond what was paid; a red-letter invoice of
    // 300.00 makes up for it and nothing becomes invoiceable.
    let refund = CommandBody::Orders(OrderCommand::RefundOrder {
        order_id: order,
        amount: amount("300.00"),
        penalty: amount("0.00"),
        reason: "downgrade".into(),
        approval_id: id(720),
    });
    world.ledger.given(&world.r2_admin.clone(), refund);
    assert_eq!(world.ledger.state.over_invoiced[&world.customer], Total::from(amount("300.00")));
    let red = |value: &str, red_id: u128| -> CommandBody {
        SettlementCommand::RedLetterInvoice {
            invoice_id: id(700),
            red_invoice_id: id(red_id),
            amount: amount(value),
            reason: "refund".into(),
        }
        .into()
    };
    let events = world.ledger.given(&finance, red("300.00", 701));
    assert_eq!(
        events[0].event.payload,
        EventPayload::InvoiceRedLettered(InvoiceRedLettered {
            invoice_id: id(700),
            red_invoice_id: id(701),
            customer_id: world.customer,
            book: world.r2,
            amount: amount("300.00"),
            tax_amount: amount("16.98"),
            reason: "refund".into(),
        })
    );
    assert_eq!(world.ledger.state.over_invoiced[&world.customer], Total::ZERO);
    assert_eq!(invoiceable(&world), Total::ZERO);
    // What is left of the invoice is 650.00: more is refused, naming the amount.
    let error = refused(world.ledger.decide(&finance, red("650.01", 702)));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("amount")));
    // Another 50.00 red-lettered without a refund becomes invoiceable again.
    world.ledger.given(&finance, red("50.00", 703));
    assert_eq!(invoiceable(&world), Total::from(amount("50.00")));
    assert_sound(&world.ledger);
}

#[test]
fn a_special_invoice_carries_the_buyers_details_and_is_issued_by_its_approval() {
    let mut world = WorkedExample::new();
    world.recharge("1000.00");
    let order = world.place_order();
    world.pay_order(order);
    let sales = world.r2_sales.clone();
    let mut missing = details(InvoiceType::Special, vec![]);
    missing.bank_account = None;
    let error = refused(world.ledger.decide(&sales, request(&world, 730, "100.00", missing)));
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("bank_account")));
    let events = world.ledger.given(&sales, request(&world, 730, "106.00", details(InvoiceType::Special, vec![])));
    assert_eq!(types(&events_of(&events)), vec!["InvoiceRequested", "ApprovalRequested"]);
    let finance = world.r2_finance.clone();
    let issue: CommandBody = SettlementCommand::IssueInvoice { invoice_id: id(730) }.into();
    assert_eq!(refused(world.ledger.decide(&finance, issue)).code(), "invoice_needs_approval");
    let approve =
        CommandBody::Approval(ApprovalCommand::DecideApproval { approval_id: id(731), grant: true, comment: None });
    let events = world.ledger.given(&finance, approve);
    assert_eq!(types(&events_of(&events)), vec!["ApprovalGranted", "InvoiceIssued"]);
    let invoice_id: InvoiceId = id(730);
    assert_eq!(world.ledger.state.invoices[&invoice_id].status.as_str(), "issued");
    assert_eq!(invoiceable(&world), Total::from(amount("844.00")));
}

#[test]
fn a_request_names_orders_of_its_customer_and_is_voided_before_it_is_issued() {
    let mut world = WorkedExample::new();
    world.recharge("2000.00");
    let order = world.place_order();
    world.pay_order(order);
    let customer = world.customer_actor.clone();
    let error = refused(
        world.ledger.decide(&customer, request(&world, 740, "950.01", details(InvoiceType::Ordinary, vec![order]))),
    );
    assert_eq!((error.code(), error.field()), ("invalid_field", Some("amount")));
    let stranger: OrderId = id(999);
    let error = refused(
        world.ledger.decide(&customer, request(&world, 740, "1.00", details(InvoiceType::Ordinary, vec![stranger]))),
    );
    assert_eq!(error.field(), Some("order_ids[0]"));
    world.ledger.given(&customer, request(&world, 740, "500.00", details(InvoiceType::Ordinary, vec![order])));
    // The request holds 500.00 of the 950.00: a second of 450.01 is too much.
    let error =
        refused(world.ledger.decide(&customer, request(&world, 742, "450.01", details(InvoiceType::Ordinary, vec![]))));
    assert_eq!(error.code(), "invoice_exceeds_invoiceable");
    let void: CommandBody = SettlementCommand::VoidInvoice { invoice_id: id(740), reason: "wrong title".into() }.into();
    let events = world.ledger.given(&world.r2_finance.clone(), void);
    assert_eq!(
        events[0].event.payload,
        EventPayload::InvoiceVoided(InvoiceVoided {
            invoice_id: id(740),
            customer_id: world.customer,
            book: world.r2,
            amount: amount("0.00"),
            reason: "wrong title".into(),
        })
    );
    world.ledger.given(&customer, request(&world, 742, "950.00", details(InvoiceType::Ordinary, vec![])));
    assert_sound(&world.ledger);
}
