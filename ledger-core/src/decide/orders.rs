//! Orders, usage charges and renewals: pricing along the chain, payment from balance, refunds
//! in proportion, and rebate commissions.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::approval_policy::ApprovalAction;
use crate::command::{OrderCommand, OrderItemRequest, ORDER_ITEMS_MAX, PERIODS_MAX};
use crate::error::DomainError;
use crate::event::*;
use crate::ids::PromotionId;
use crate::ids::{ApprovalId, InviteCode, OrgId, ProductId};
use crate::journal::Posting;
use crate::money::{checked_mul, round_half_up, Amount, Currency, MoneyError, Rate, UnitPrice};
use crate::org::{OrgKind, SaleMode};
use crate::permissions::Permission;
use crate::pricing::{
    build_priced_item, price_of, CandidateKind, CandidateReason, ItemExchange, LevelPricing, PriceBasis,
    PriceCandidate, PriceKind, PricedItem, RateScope, RateSource, Stacking, STACKED_PROMOTIONS_MAX,
};
use crate::rules::PartyRef;
use crate::state::{Order, OrderStatus, Product, ShareAmounts};

use crate::ids::OrderId;
use crate::state::{OrderCommission, State};

use super::{optional_prose, prose_field, Decider};

/// One book's part of a sale: what it books in one role, with one party.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    pub book: OrgId,
    pub role: &'static str,
    pub party: (PartyRef, OrgId),
    pub amounts: ShareAmounts,
}

/// The shares of a sale, from its priced items: every level books revenue (to the customer, or
/// to its child reseller) and cost (from its parent, or from the supplier at the top). Shares of
/// the same book, role and party are summed across items. Ordered from the seller up, revenue
/// before cost, as finance reads the books (DESIGN §2.5's table). A share summed past
/// `AMOUNT_MAX` is `TooLarge`: placing the order refuses it, so its payment and refunds never do.
pub fn order_shares(items: &[PricedItem], customer_id: OrgId) -> Result<Vec<Share>, MoneyError> {
    let mut shares: Vec<Share> = Vec::with_capacity(items.first().map_or(0, |item| item.levels.len() * 2));
    let mut add = |book: OrgId, role: &'static str, party: (PartyRef, OrgId), amounts: ShareAmounts| {
        let existing = shares.iter_mut().find(|share| share.book == book && share.role == role && share.party == party);
        match existing {
            Some(share) => {
                share.amounts.list = share.amounts.list.try_add(amounts.list)?;
                share.amounts.price = share.amounts.price.try_add(amounts.price)?;
                share.amounts.cost = share.amounts.cost.try_add(amounts.cost)?;
            }
            None => shares.push(Share { book, role, party, amounts }),
        }
        Ok::<(), MoneyError>(())
    };
    for item in items {
        let last = item.levels.len().saturating_sub(1);
        for (index, level) in item.levels.iter().enumerate().rev() {
            let (sell_role, buyer) = if index == last {
                ("seller", (PartyRef::Customer, customer_id))
            } else {
                ("intermediate", (PartyRef::Child, item.levels[index + 1].org_id))
            };
            // A price above list (a markup) books its excess as revenue: the sale's `list` is then
            // the price, so its discount (`list - price`) is zero, never negative.
            let revenue =
                ShareAmounts { list: item.list_amount.max(level.price), price: level.price, cost: Amount::ZERO };
            add(level.org_id, sell_role, buyer, revenue)?;
            let (cost_role, upstream) = if index == 0 {
                ("cost_from_supplier", (PartyRef::Supplier, item.supplier_id))
            } else {
                ("cost_from_parent", (PartyRef::Parent, item.levels[index - 1].org_id))
            };
            add(
                level.org_id,
                cost_role,
                upstream,
                ShareAmounts { list: Amount::ZERO, price: Amount::ZERO, cost: level.cost },
            )?;
        }
    }
    Ok(shares)
}

fn posting_of<'a>(kind: &'a str, share: &Share, amounts: ShareAmounts) -> Posting<'a> {
    Posting::new(kind, share.role, share.book)
        .amount("list", amounts.list)
        .amount("price", amounts.price)
        .amount("cost", amounts.cost)
        .party(share.party.0, share.party.1)
}

fn order_state_error(order: &Order, action: &'static str) -> DomainError {
    DomainError::OrderState { status: order.status.as_str(), action }
}

/// `round(value × part / whole)`: a refund's share of one amount (at most `value` when
/// `part ≤ whole`; `TooLarge` for a zero `whole`, which no refund has).
fn proportion(value: Amount, part: Amount, whole: Amount) -> Result<Amount, MoneyError> {
    let product = checked_mul(value.as_decimal(), part.as_decimal())?;
    round_half_up(product.checked_div(whole.as_decimal()).ok_or(MoneyError::TooLarge)?)
}

/// What a refund of `amount` reverses of each share. Cumulatively: the refunds through this one
/// reverse their proportion of the share (rounded once), less what the earlier ones reversed, so
/// partial refunds never reverse more than the share, however they round; the one that
/// completes the order takes exactly what is left, so a sale refunded in parts reverses to the
/// cent. (A log decided before this rule may have reversed a cent too much in parts: what is
/// left is then zero, never negative.) Used by the decider and by `evolve`, which keeps the
/// running total.
pub(crate) fn refund_parts(order: &Order, shares: &[Share], amount: Amount) -> Result<Vec<ShareAmounts>, MoneyError> {
    let refunded_after = order.refunded.checked_add(amount).ok_or(MoneyError::TooLarge)?;
    let completes = refunded_after == order.paid;
    let part = |share: Amount, reversed: Amount| -> Result<Amount, MoneyError> {
        let through = if completes { share } else { proportion(share, refunded_after, order.paid)? };
        Ok(through.checked_sub(reversed).unwrap_or(Amount::ZERO))
    };
    shares
        .iter()
        .enumerate()
        .map(|(index, share)| {
            let reversed = order.reversed.get(index).copied().unwrap_or_default();
            Ok(ShareAmounts {
                list: part(share.amounts.list, reversed.list)?,
                price: part(share.amounts.price, reversed.price)?,
                cost: part(share.amounts.cost, reversed.cost)?,
            })
        })
        .collect()
}

/// What the customer pays for the items: their prices summed, within `AMOUNT_MAX`.
fn order_total(items: &[PricedItem]) -> Result<Amount, DomainError> {
    Amount::try_sum(items.iter().map(PricedItem::customer_price))
        .map_err(|error| DomainError::invalid_amount("items", error))
}

impl Decider<'_> {
    pub(super) fn decide_orders(&self, command: &OrderCommand) -> Result<Vec<Event>, DomainError> {
        use OrderCommand as C;
        match command {
            C::PlaceOrder { order_id, customer_id, items, invite_code } => {
                self.place_order(*order_id, *customer_id, items, invite_code.as_ref())
            }
            C::PayOrder { order_id } => self.pay_order(*order_id),
            C::FulfilOrder { order_id, note, subscription_end } => {
                let order = self.seller_order(*order_id, Permission::OrdersFulfil)?;
                let paid = matches!(order.status, OrderStatus::Paid | OrderStatus::PartiallyRefunded);
                if !paid || order.fulfilled {
                    return Err(order_state_error(order, "fulfil"));
                }
                let event = OrderFulfilled {
                    order_id: *order_id,
                    note: optional_prose("note", note)?,
                    subscription_end: *subscription_end,
                };
                Ok(vec![Event::new(EventPayload::OrderFulfilled(event))])
            }
            C::CancelOrder { order_id } => {
                let order = self.customer_order(*order_id, Permission::OrdersCancel)?;
                if order.status != OrderStatus::PendingPayment {
                    return Err(order_state_error(order, "cancel"));
                }
                let by_customer = self.command.actor.org_id == order.customer_id;
                let reason = if by_customer { CancelReason::ByCustomer } else { CancelReason::ByAdmin };
                Ok(vec![Event::new(EventPayload::OrderCancelled(OrderCancelled { order_id: *order_id, reason }))])
            }
            C::RefundOrder { order_id, amount, penalty, reason, approval_id } => {
                self.refund(*order_id, *amount, *penalty, reason, *approval_id)
            }
            C::ChargeUsage { usage_id, customer_id, product_id, quantity, period_from, period_to } => {
                let (_, seller) = self.customer_for(*customer_id, Permission::UsageCharge)?;
                if self.command.actor.org_id == *customer_id {
                    return Err(DomainError::forbidden(
                        "usage is metered by the seller's operations, not the customer",
                    ));
                }
                if self.state.usages.contains(usage_id) {
                    return Err(DomainError::AlreadyExists { what: "usage charge", id: usage_id.to_string() });
                }
                if period_from > period_to {
                    return Err(DomainError::invalid_field("period_to", "must not be before period_from"));
                }
                let request = OrderItemRequest { product_id: *product_id, quantity: *quantity, periods: 1 };
                let item = self.price_item("product_id", seller, *customer_id, &request, None, false)?;
                let total = item.customer_price();
                let payload = EventPayload::UsageCharged(UsageCharged {
                    usage_id: *usage_id,
                    customer_id: *customer_id,
                    seller_id: seller,
                    item: item.clone(),
                    total,
                    period_from: *period_from,
                    period_to: *period_to,
                });
                let mut events = self.fund_purchase(*customer_id, seller, total, usage_id.0)?;
                events.extend(self.sale_events(
                    "usage",
                    payload,
                    std::slice::from_ref(&item),
                    *customer_id,
                    usage_id.0,
                )?);
                Ok(events)
            }
            C::RenewSubscription { renewal_id, order_id, periods, new_end } => {
                self.renew(*renewal_id, *order_id, *periods, *new_end)
            }
        }
    }

    /// An order the actor may act on as its customer or as the seller's staff.
    pub(super) fn customer_order(
        &self,
        order_id: crate::ids::OrderId,
        permission: Permission,
    ) -> Result<&Order, DomainError> {
        let order = self.state.orders.get(&order_id).ok_or_else(|| DomainError::not_found("order", order_id))?;
        self.customer_for(order.customer_id, permission).map_err(|error| match error {
            DomainError::NotFound { .. } => DomainError::not_found("order", order_id),
            other => other,
        })?;
        Ok(order)
    }

    /// An order the actor may act on as the seller's staff only.
    fn seller_order(&self, order_id: crate::ids::OrderId, permission: Permission) -> Result<&Order, DomainError> {
        let order = self.state.orders.get(&order_id).filter(|order| self.reaches(order.seller_id));
        let order = order.ok_or_else(|| DomainError::not_found("order", order_id))?;
        self.require(permission)?;
        Ok(order)
    }

    fn place_order(
        &self,
        order_id: crate::ids::OrderId,
        customer_id: OrgId,
        requests: &[OrderItemRequest],
        invite_code: Option<&InviteCode>,
    ) -> Result<Vec<Event>, DomainError> {
        let (_, seller) = self.customer_for(customer_id, Permission::OrdersPlace)?;
        if self.state.orders.contains_key(&order_id) {
            return Err(DomainError::AlreadyExists { what: "order", id: order_id.to_string() });
        }
        if requests.is_empty() || requests.len() > ORDER_ITEMS_MAX {
            return Err(DomainError::invalid_field("items", format!("an order has 1 to {ORDER_ITEMS_MAX} items")));
        }
        let invite = match invite_code {
            None => None,
            Some(code) => {
                let invite = self.state.invite_codes.get(&(seller, code.clone()));
                Some(invite.ok_or_else(|| DomainError::InvalidInviteCode { code: code.to_string() })?)
            }
        };
        let mut items = Vec::with_capacity(requests.len());
        for (index, request) in requests.iter().enumerate() {
            let field = format!("items[{index}]");
            items.push(self.price_item(&field, seller, customer_id, request, invite, true)?);
        }
        let total = order_total(&items)?;
        // Its payment and refunds split it into shares: they must stay amounts, too.
        order_shares(&items, customer_id).map_err(|error| DomainError::invalid_amount("items", error))?;
        let event = OrderPlaced {
            order_id,
            customer_id,
            seller_id: seller,
            items,
            total,
            invite_code: invite_code.cloned(),
            salesperson: invite.and_then(|invite| invite.salesperson.clone()),
        };
        Ok(vec![Event::new(EventPayload::OrderPlaced(event))])
    }

    fn pay_order(&self, order_id: crate::ids::OrderId) -> Result<Vec<Event>, DomainError> {
        let order = self.customer_order(order_id, Permission::OrdersPay)?;
        match order.status {
            OrderStatus::PendingPayment => {}
            OrderStatus::Cancelled => return Err(order_state_error(order, "pay")),
            _ => return Err(DomainError::OrderAlreadyPaid),
        }
        self.first_orders_still_first(order)?;
        // Vouchers first, then cash (`money_flows`), then credit (`terms`).
        let mut events = self.fund_purchase(order.customer_id, order.seller_id, order.total, order_id.0)?;
        events.extend(self.order_payment(order)?);
        Ok(events)
    }

    /// An order placed at a first-order price is paid only while it is still the customer's
    /// first paid order of that product from the seller (two orders placed before either was
    /// paid: the second to be paid pays no first-order price and is refused; cancel it and place
    /// it again).
    pub(super) fn first_orders_still_first(&self, order: &Order) -> Result<(), DomainError> {
        for item in &order.items {
            let first = item.seller_level().is_some_and(|level| {
                level
                    .candidates
                    .iter()
                    .any(|candidate| candidate.kind == CandidateKind::FirstOrder && candidate.applied)
            });
            if first && self.state.first_orders_used.contains(&(order.seller_id, order.customer_id, item.product_id)) {
                return Err(DomainError::conflict(
                    "first_order_used",
                    format!(
                        "product {} was bought from this seller since the order was placed at its first-order price",
                        item.product_id
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The payment of an order awaiting it, from the customer's wallet: the sale in every book
    /// of the chain and its commissions (from balance, or from an online payment that has just
    /// credited the wallet: that one spends no vouchers, the customer paid the order through the
    /// channel).
    pub(super) fn order_payment(&self, order: &Order) -> Result<Vec<Event>, DomainError> {
        let order_id = order.order_id;
        let payload = EventPayload::OrderPaid(OrderPaid {
            order_id,
            customer_id: order.customer_id,
            seller_id: order.seller_id,
            total: order.total,
            salesperson: order.salesperson.clone(),
        });
        self.sale_events("sale", payload, &order.items, order.customer_id, order_id.0)
    }

    /// A sale's event with its entries in every book of the chain, then one commission event per
    /// rebate-mode reseller in the chain.
    fn sale_events(
        &self,
        kind: &str,
        payload: EventPayload,
        items: &[PricedItem],
        customer_id: OrgId,
        source_id: uuid::Uuid,
    ) -> Result<Vec<Event>, DomainError> {
        let shares = order_shares(items, customer_id).map_err(|error| DomainError::invalid_amount("items", error))?;
        let postings: Vec<Posting<'_>> = shares.iter().map(|share| posting_of(kind, share, share.amounts)).collect();
        let mut events = vec![self.booked(payload, &postings)?];
        events.extend(self.commissions(items, source_id)?);
        Ok(events)
    }

    fn commissions(&self, items: &[PricedItem], source_id: uuid::Uuid) -> Result<Vec<Event>, DomainError> {
        let mut bases: BTreeMap<(OrgId, OrgId), (Amount, Rate)> = BTreeMap::new();
        for item in items {
            for pair in item.levels.windows(2) {
                let (payer, reseller) = (&pair[0], &pair[1]);
                if reseller.rate_source != RateSource::Rebate {
                    continue;
                }
                let mode = self.state.sale_mode_on(reseller.org_id, self.command.effective_date);
                let Some(SaleMode::Rebate { commission_rate }) = mode else {
                    continue;
                };
                let base = bases.entry((payer.org_id, reseller.org_id)).or_insert((Amount::ZERO, commission_rate));
                base.0 = base.0.try_add(reseller.price).map_err(|error| DomainError::invalid_amount("items", error))?;
            }
        }
        let mut events = Vec::new();
        for ((payer_id, reseller_id), (base, rate)) in bases {
            // A rate is at most 1: the commission is at most its base.
            let amount = checked_mul(base.as_decimal(), rate.as_decimal())
                .and_then(round_half_up)
                .map_err(|error| DomainError::invalid_amount("items", error))?;
            if amount.is_zero() {
                continue;
            }
            let payload = EventPayload::CommissionAccrued(CommissionAccrued {
                source_id,
                payer_id,
                reseller_id,
                base,
                rate,
                amount,
            });
            let postings = [
                Posting::new("commission", "payer", payer_id)
                    .amount("amount", amount)
                    .party(PartyRef::Child, reseller_id),
                Posting::new("commission", "earner", reseller_id)
                    .amount("amount", amount)
                    .party(PartyRef::Parent, payer_id),
            ];
            events.push(self.booked(payload, &postings)?);
        }
        Ok(events)
    }

    fn refund(
        &self,
        order_id: crate::ids::OrderId,
        amount: Amount,
        penalty: Amount,
        reason: &str,
        approval_id: ApprovalId,
    ) -> Result<Vec<Event>, DomainError> {
        let order = self.seller_order(order_id, Permission::OrdersRefund)?;
        let events = self.refund_events(order_id, amount, penalty, reason)?;
        // The approval decision point: above the book's threshold, the refund waits.
        let action = ApprovalAction::Refund;
        if let Some(levels) = self.approval_levels(order.seller_id, action, Some(amount)) {
            self.new_approval_id(approval_id)?;
            let proposal = Proposal::RefundOrder { order_id, amount, penalty, reason: prose_field("reason", reason)? };
            return Ok(self.routed_approval_request(
                approval_id,
                order.seller_id,
                ApprovalKind::Refund,
                proposal,
                action,
                levels,
            ));
        }
        Ok(events)
    }

    /// A refund booked, at once or once approved: the order must still be refundable by
    /// `amount`.
    pub(super) fn refund_events(
        &self,
        order_id: crate::ids::OrderId,
        amount: Amount,
        penalty: Amount,
        reason: &str,
    ) -> Result<Vec<Event>, DomainError> {
        let order = self.state.orders.get(&order_id).ok_or_else(|| DomainError::not_found("order", order_id))?;
        if !matches!(order.status, OrderStatus::Paid | OrderStatus::Fulfilled | OrderStatus::PartiallyRefunded) {
            return Err(order_state_error(order, "refund"));
        }
        if amount.is_zero() {
            return Err(DomainError::invalid_amount("amount", crate::money::MoneyError::Zero));
        }
        let refundable = order.paid.checked_sub(order.refunded).unwrap_or(Amount::ZERO);
        if amount > refundable {
            return Err(DomainError::RefundExceedsPaid { requested: amount, refundable });
        }
        if penalty > amount {
            return Err(DomainError::invalid_field("penalty", "must not be more than the amount refunded"));
        }
        // Within what was paid, so within `AMOUNT_MAX`.
        let refunded_total =
            order.refunded.try_add(amount).map_err(|error| DomainError::invalid_amount("amount", error))?;
        let fully_refunded = refunded_total == order.paid;
        let invalid = |error| DomainError::invalid_amount("amount", error);
        let shares = order_shares(&order.items, order.customer_id).map_err(invalid)?;
        let parts = refund_parts(order, &shares, amount).map_err(invalid)?;
        let postings: Vec<Posting<'_>> = shares
            .iter()
            .zip(parts)
            .map(|(share, part)| {
                let penalty = if share.role == "seller" { penalty } else { Amount::ZERO };
                posting_of("refund", share, part).amount("penalty", penalty)
            })
            .collect();
        let payload = EventPayload::OrderRefunded(OrderRefunded {
            order_id,
            customer_id: order.customer_id,
            seller_id: order.seller_id,
            amount,
            penalty,
            reason: prose_field("reason", reason)?,
            refunded_total,
            fully_refunded,
        });
        let mut events = vec![self.booked(payload, &postings)?];
        let vouchers = self.vouchers_refunded(order, amount, penalty)?;
        let voucher_back = vouchers.iter().find_map(|event| match &event.payload {
            EventPayload::VoucherReturned(returned) => Some(returned.amount),
            _ => None,
        });
        events.extend(vouchers);
        events.extend(self.commission_reversals(order, amount)?);
        // The cash the wallet gets back repays the customer's arrears first (`terms`).
        let cash_back = amount.minus(penalty).checked_sub(voucher_back.unwrap_or(Amount::ZERO)).unwrap_or(Amount::ZERO);
        events.extend(self.repayment(order.customer_id, order.seller_id, order_id.0, cash_back)?);
        Ok(events)
    }

    /// What a refund gives back as vouchers: of what the customer gets back (`amount -
    /// penalty`), the share the order paid with vouchers, cumulatively like the sale's shares
    /// (the completing refund takes what is left); the rest is cash. It goes back to the grants
    /// it was spent from, the latest to expire first; a grant past its expiry is booked out at
    /// once, never turned into cash.
    fn vouchers_refunded(&self, order: &Order, amount: Amount, penalty: Amount) -> Result<Vec<Event>, DomainError> {
        if order.voucher_paid.is_zero() {
            return Ok(Vec::new());
        }
        let invalid = |error| DomainError::invalid_amount("amount", error);
        let refunded_after = order.refunded.checked_add(amount).ok_or(MoneyError::TooLarge).map_err(invalid)?;
        let through = if refunded_after == order.paid {
            order.voucher_paid
        } else {
            proportion(order.voucher_paid, refunded_after, order.paid).map_err(invalid)?
        };
        let back = amount.checked_sub(penalty).unwrap_or(Amount::ZERO);
        let mut left = through.checked_sub(order.voucher_returned).unwrap_or(Amount::ZERO).min(back);
        let total = left;
        let mut slices = Vec::new();
        for spent in order.vouchers.iter().rev() {
            if left.is_zero() {
                break;
            }
            let take = spent.amount.min(left);
            left = left.minus(take);
            slices.push(VoucherSlice { amount: take, ..spent.clone() });
        }
        if slices.is_empty() {
            return Ok(Vec::new());
        }
        let (customer_id, book) = (order.customer_id, order.seller_id);
        let amount = total.minus(left);
        let today = self.command.effective_date;
        let expired: Vec<VoucherSlice> =
            slices.iter().filter(|slice| slice.expires_on.is_some_and(|date| date <= today)).cloned().collect();
        let payload = EventPayload::VoucherReturned(VoucherReturned {
            customer_id,
            book,
            order_id: order.order_id,
            slices,
            amount,
        });
        let posting = Posting::new("voucher.return", "seller", book)
            .amount("amount", amount)
            .party(PartyRef::Customer, customer_id);
        let mut events = vec![self.booked(payload, &[posting])?];
        events.extend(self.vouchers_expired(customer_id, book, expired)?);
        Ok(events)
    }

    /// A refund takes back the same share of every rebate commission the sale earned (the
    /// refunds so far take back their proportion, rounded once); the one that completes the
    /// refund takes back exactly what is left.
    fn commission_reversals(&self, order: &Order, amount: Amount) -> Result<Vec<Event>, DomainError> {
        let invalid = |error| DomainError::invalid_amount("amount", error);
        let refunded_after = order.refunded.checked_add(amount).ok_or(MoneyError::TooLarge).map_err(invalid)?;
        let completes = refunded_after == order.paid;
        let mut events = Vec::new();
        for commission in &order.commissions {
            // Cumulatively, like the sale's own shares (`refund_parts`).
            let through = if completes {
                commission.amount
            } else {
                proportion(commission.amount, refunded_after, order.paid).map_err(invalid)?
            };
            let part = through.checked_sub(commission.reversed).unwrap_or(Amount::ZERO);
            if part.is_zero() {
                continue;
            }
            let payload = EventPayload::CommissionReversed(CommissionReversed {
                source_id: order.order_id.0,
                payer_id: commission.payer_id,
                reseller_id: commission.reseller_id,
                amount: part,
            });
            let negated = crate::money::SignedAmount::ZERO.sub(part);
            let postings = [
                Posting::new("commission", "payer", commission.payer_id)
                    .signed_amount("amount", negated)
                    .party(PartyRef::Child, commission.reseller_id),
                Posting::new("commission", "earner", commission.reseller_id)
                    .signed_amount("amount", negated)
                    .party(PartyRef::Parent, commission.payer_id),
            ];
            events.push(self.booked(payload, &postings)?);
        }
        Ok(events)
    }

    fn renew(
        &self,
        renewal_id: crate::ids::RenewalId,
        order_id: crate::ids::OrderId,
        periods: u32,
        new_end: NaiveDate,
    ) -> Result<Vec<Event>, DomainError> {
        let order = self.customer_order(order_id, Permission::OrdersRenew)?;
        self.renewal_events(order, renewal_id, periods, new_end)
    }

    /// A renewal of `order` for `periods` to `new_end`, priced today and paid from the wallet
    /// (vouchers, cash, then credit): by the customer or its seller's staff, or by the clock.
    pub(super) fn renewal_events(
        &self,
        order: &Order,
        renewal_id: crate::ids::RenewalId,
        periods: u32,
        new_end: NaiveDate,
    ) -> Result<Vec<Event>, DomainError> {
        if self.state.renewals.contains(&renewal_id) {
            return Err(DomainError::AlreadyExists { what: "renewal", id: renewal_id.to_string() });
        }
        if !order.fulfilled || order.status == OrderStatus::Refunded {
            return Err(order_state_error(order, "renew"));
        }
        let current_end = order.subscription_end.unwrap_or(self.command.effective_date);
        if new_end <= current_end {
            return Err(DomainError::invalid_field("new_end", format!("must be after the current end {current_end}")));
        }
        let mut items = Vec::with_capacity(order.items.len());
        for (index, item) in order.items.iter().enumerate() {
            let request = OrderItemRequest { product_id: item.product_id, quantity: item.quantity, periods };
            items.push(self.price_item(
                &format!("items[{index}]"),
                order.seller_id,
                order.customer_id,
                &request,
                None,
                false,
            )?);
        }
        let total = order_total(&items)?;
        let payload = EventPayload::SubscriptionRenewed(SubscriptionRenewed {
            renewal_id,
            order_id: order.order_id,
            customer_id: order.customer_id,
            seller_id: order.seller_id,
            items: items.clone(),
            total,
            new_end,
            renewed_by: self.command.actor.principal_id,
        });
        let mut events = self.fund_purchase(order.customer_id, order.seller_id, total, renewal_id.0)?;
        events.extend(self.sale_events("renewal", payload, &items, order.customer_id, renewal_id.0)?);
        Ok(events)
    }

    /// Prices one item along the chain from the product's owner down to `seller` (the
    /// customer's first-order price may apply to an order being placed, never to usage or a
    /// renewal: `first_order`).
    pub(super) fn price_item(
        &self,
        field: &str,
        seller: OrgId,
        customer_id: OrgId,
        request: &OrderItemRequest,
        invite: Option<&InviteCodeCreated>,
        first_order: bool,
    ) -> Result<PricedItem, DomainError> {
        let no_price = |reason: String| DomainError::NoPrice { field: format!("{field}.product_id"), reason };
        if request.periods == 0 || request.periods > PERIODS_MAX {
            return Err(DomainError::invalid_field(format!("{field}.periods"), format!("must be 1 to {PERIODS_MAX}")));
        }
        let product = self.state.products.get(&request.product_id);
        let product =
            product.ok_or_else(|| DomainError::invalid_field(format!("{field}.product_id"), "unknown product"))?;
        let supplier_rate =
            product.supplier_rate.ok_or_else(|| no_price("the product has no supplier rate".to_owned()))?;
        if product.off_shelf {
            let reason = format!("product {} is off the shelf", request.product_id);
            return Err(DomainError::conflict("product_off_shelf", reason));
        }
        let chain = self
            .chain_from(product.owner_id, seller)
            .ok_or_else(|| no_price("the seller cannot buy this product".to_owned()))?;
        if chain.iter().any(|org| product.hidden_from.contains(org)) {
            return Err(no_price("the product is not offered to this seller".to_owned()));
        }
        for org in &chain {
            self.not_closed(*org)?;
        }
        let seller_currency = self.state.books[&seller].currency;
        let owner_currency = self.state.books[&product.owner_id].currency;
        if seller_currency != owner_currency {
            return Err(DomainError::CurrencyMismatch {
                expected: seller_currency.to_string(),
                found: owner_currency.to_string(),
            });
        }
        let date = self.command.effective_date;
        let (list_price, exchange) = self.list_price_in_book(product, owner_currency, date, field)?;
        let pricer = Pricer {
            list_price,
            quantity: request.quantity,
            periods: request.periods,
            field: format!("{field}.quantity"),
        };
        let mut levels: Vec<LevelPricing> = Vec::with_capacity(chain.len());
        for (index, org_id) in chain.iter().enumerate() {
            let org = &self.state.orgs[org_id];
            let mode = self.state.sale_mode_on(*org_id, date).unwrap_or(org.sale_mode);
            let rebate = index > 0 && matches!(mode, SaleMode::Rebate { .. }) && org.kind == OrgKind::Reseller;
            let level = match levels.last() {
                Some(parent) if rebate => LevelPricing {
                    org_id: *org_id,
                    basis: parent.basis,
                    stacked: parent.stacked.clone(),
                    source: RateSource::Rebate,
                    candidates: Vec::new(),
                },
                _ if rebate => LevelPricing::rate(*org_id, supplier_rate, RateSource::Rebate),
                _ if index + 1 < chain.len() => {
                    let scope = RateScope::Reseller(chain[index + 1]);
                    let mut too_large = None;
                    let candidates = self.scope_candidates(
                        *org_id,
                        request.product_id,
                        scope,
                        RateSource::Reseller,
                        &pricer,
                        &mut too_large,
                    );
                    match choose(*org_id, candidates) {
                        Some(level) => level,
                        None => {
                            return Err(too_large.unwrap_or_else(|| {
                                no_price(format!("org {org_id} has no valid rate for reseller {}", chain[index + 1]))
                            }))
                        }
                    }
                }
                _ => self.customer_pricing(
                    *org_id,
                    customer_id,
                    request.product_id,
                    invite,
                    first_order,
                    &pricer,
                    field,
                )?,
            };
            levels.push(level);
        }
        let mut item = build_priced_item(
            request.product_id,
            product.supplier_id,
            pricer.list_price,
            request.quantity,
            request.periods,
            supplier_rate,
            levels,
        )
        .map_err(|error| DomainError::invalid_amount(pricer.field.clone(), error))?;
        item.exchange = exchange;
        // What the supplier is owed in its currency is kept for the settlement: within range too.
        if let Some(Err(error)) = item.foreign_supplier_price() {
            return Err(DomainError::invalid_amount(pricer.field.clone(), error));
        }
        Ok(item)
    }

    /// The product's list price on `date` in the chain's currency: for a product priced in a
    /// foreign currency, converted at the owner's latest rate dated on or before `date`, which
    /// the item keeps (a missing rate refuses the sale: nothing is priced at a guess).
    fn list_price_in_book(
        &self,
        product: &Product,
        book_currency: Currency,
        date: NaiveDate,
        field: &str,
    ) -> Result<(UnitPrice, Option<ItemExchange>), DomainError> {
        let list_price = product.list_price_on(date);
        let currency = match product.currency {
            Some(currency) if currency != book_currency => currency,
            _ => return Ok((list_price, None)),
        };
        let rates = self.state.exchange_rates.get(&(product.owner_id, currency));
        let Some((rate_date, (rate, source))) = rates.and_then(|rates| rates.range(..=date).next_back()) else {
            let reason = format!(
                "product {} is priced in {currency} and book {} has no {currency} rate on or before {date}",
                product.product_id, product.owner_id
            );
            return Err(DomainError::conflict("exchange_rate_missing", reason));
        };
        let converted = rate
            .convert(list_price)
            .map_err(|error| DomainError::invalid_amount(format!("{field}.quantity"), error))?;
        let exchange =
            ItemExchange { currency, list_price, rate: *rate, source: source.clone(), rate_date: *rate_date };
        Ok((converted, Some(exchange)))
    }

    /// An org's valid rate, fixed price and tier for one scope, in that order, each priced. A
    /// candidate whose price would pass `AMOUNT_MAX` (a markup on a large quantity) is left out,
    /// its error kept in `too_large` for a level left without any candidate.
    fn scope_candidates(
        &self,
        org_id: OrgId,
        product_id: ProductId,
        scope: RateScope,
        source: RateSource,
        pricer: &Pricer,
        too_large: &mut Option<DomainError>,
    ) -> Vec<Candidate> {
        let date = self.command.effective_date;
        let mut bases = Vec::new();
        if let Some(window) = self.state.rates.get(&(org_id, product_id, scope)).filter(|window| window.valid_on(date))
        {
            bases.push((CandidateKind::Rate, PriceBasis::Rate(window.rate)));
        }
        for (kind, candidate_kind) in
            [(PriceKind::Fixed, CandidateKind::Fixed), (PriceKind::Tiered, CandidateKind::Tier)]
        {
            let window =
                self.state.prices.get(&(org_id, product_id, scope, kind)).filter(|window| window.valid_on(date));
            if let Some(basis) = window.and_then(|window| window.rule.basis_for(pricer.quantity)) {
                bases.push((candidate_kind, basis));
            }
        }
        pricer.candidates(source, bases, too_large)
    }

    /// The seller's price to a customer (ARCHITECTURE.md, "Pricing"): the base is the lowest of
    /// the valid public and customer-specific rates, fixed prices and tiers, and the first-order
    /// price on a first order; the public scope must have one. Stackable promotions multiply the
    /// base; each exclusive promotion competes with that alone, and the lowest wins.
    #[allow(clippy::too_many_arguments)]
    fn customer_pricing(
        &self,
        seller: OrgId,
        customer_id: OrgId,
        product_id: ProductId,
        invite: Option<&InviteCodeCreated>,
        first_order: bool,
        pricer: &Pricer,
        field: &str,
    ) -> Result<LevelPricing, DomainError> {
        let date = self.command.effective_date;
        let mut too_large = None;
        let mut base =
            self.scope_candidates(seller, product_id, RateScope::Public, RateSource::Public, pricer, &mut too_large);
        if base.is_empty() {
            return Err(too_large.unwrap_or_else(|| DomainError::NoPrice {
                field: format!("{field}.product_id"),
                reason: "the seller has no valid public rate for the product".to_owned(),
            }));
        }
        let customer = RateScope::Customer(customer_id);
        base.extend(self.scope_candidates(seller, product_id, customer, RateSource::Customer, pricer, &mut too_large));
        if first_order && !self.state.first_orders_used.contains(&(seller, customer_id, product_id)) {
            let mut bases = Vec::new();
            for scope in [RateScope::Public, customer] {
                let key = (seller, product_id, scope, PriceKind::FirstOrder);
                let window = self.state.prices.get(&key).filter(|window| window.valid_on(date));
                if let Some(basis) = window.and_then(|window| window.rule.basis_for(pricer.quantity)) {
                    bases.push((CandidateKind::FirstOrder, basis));
                }
            }
            base.extend(pricer.candidates(RateSource::FirstOrder, bases, &mut too_large));
        }
        let mut promotions: Vec<(PromotionId, Rate, Stacking)> = Vec::new();
        let invited = invite.and_then(|invite| invite.promotion_id);
        if let Some(promotion) = invited.and_then(|id| self.state.promotions.get(&id)) {
            if date < promotion.valid_from || promotion.valid_to < date {
                return Err(DomainError::PromotionNotValid {
                    code: invite.map(|invite| invite.code.to_string()).unwrap_or_default(),
                    valid_from: promotion.valid_from,
                    valid_to: promotion.valid_to,
                    date,
                });
            }
            if let Some(rate) = promotion.rates.get(&product_id) {
                promotions.push((promotion.promotion_id, *rate, self.stacking_of(promotion.promotion_id)));
            }
        }
        for id in self.state.open_promotions.get(&seller).into_iter().flatten() {
            let Some(promotion) = self.state.promotions.get(id).filter(|_| Some(*id) != invited) else {
                continue;
            };
            if date < promotion.valid_from || promotion.valid_to < date {
                continue;
            }
            if let Some(rate) = promotion.rates.get(&product_id) {
                promotions.push((*id, *rate, self.stacking_of(*id)));
            }
        }
        choose_with_promotions(seller, base, &promotions, pricer).map(|level| level.expect("a public candidate"))
    }

    fn stacking_of(&self, promotion_id: PromotionId) -> Stacking {
        self.state.promotion_terms.get(&promotion_id).map_or(Stacking::Exclusive, |terms| terms.stacking)
    }
}

/// What prices one item at every level: its list price, quantity and periods.
struct Pricer {
    list_price: crate::money::UnitPrice,
    quantity: crate::money::Quantity,
    periods: u32,
    /// The field a price past the limits is blamed on (`items[0].quantity`).
    field: String,
}

/// A candidate with the basis it prices at.
type Candidate = (PriceCandidate, PriceBasis);

impl Pricer {
    fn price(&self, basis: PriceBasis, stacked: &[Rate]) -> Result<Amount, DomainError> {
        price_of(self.list_price, self.quantity, self.periods, basis, stacked)
            .map_err(|error| DomainError::invalid_amount(self.field.clone(), error))
    }

    /// Each basis priced as a candidate; one past the limits is left out, its error kept.
    fn candidates(
        &self,
        source: RateSource,
        bases: Vec<(CandidateKind, PriceBasis)>,
        too_large: &mut Option<DomainError>,
    ) -> Vec<Candidate> {
        let mut out = Vec::with_capacity(bases.len());
        for (kind, basis) in bases {
            match self.price(basis, &[]) {
                Ok(price) => out.push((PriceCandidate::new(source, kind, basis, price), basis)),
                Err(error) => *too_large = too_large.take().or(Some(error)),
            }
        }
        out
    }
}

/// The first of the lowest-priced candidates.
fn lowest(candidates: &[Candidate]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (index, (candidate, _)) in candidates.iter().enumerate() {
        if best.is_none_or(|best| candidate.price < candidates[best].0.price) {
            best = Some(index);
        }
    }
    best
}

/// Whether a level keeps its candidates: when it had a choice, or its price is not simply a
/// rate (a level priced by its only candidate, a rate, reads as before: its rate and source).
fn keeps_candidates(candidates: &[PriceCandidate]) -> bool {
    candidates.len() > 1 || candidates.iter().any(|candidate| candidate.kind != CandidateKind::Rate)
}

/// A level without promotions: the lowest candidate wins (`None` without candidates).
fn choose(org_id: OrgId, candidates: Vec<Candidate>) -> Option<LevelPricing> {
    let best = lowest(&candidates)?;
    let (basis, source) = (candidates[best].1, candidates[best].0.source);
    let mut candidates: Vec<PriceCandidate> = candidates.into_iter().map(|(candidate, _)| candidate).collect();
    candidates[best].applied = true;
    candidates[best].reason = CandidateReason::Lowest;
    if !keeps_candidates(&candidates) {
        candidates.clear();
    }
    Some(LevelPricing { org_id, basis, stacked: Vec::new(), source, candidates })
}

/// The seller's level: the base (the lowest of `base`) times every stackable promotion (the
/// first `STACKED_PROMOTIONS_MAX`), against each exclusive promotion's price of list alone; the
/// lowest wins, the base path on equal prices, then the promotions in order.
fn choose_with_promotions(
    org_id: OrgId,
    base: Vec<Candidate>,
    promotions: &[(PromotionId, Rate, Stacking)],
    pricer: &Pricer,
) -> Result<Option<LevelPricing>, DomainError> {
    if promotions.is_empty() {
        return Ok(choose(org_id, base));
    }
    let Some(best) = lowest(&base) else {
        return Ok(None);
    };
    let (base_basis, base_source) = (base[best].1, base[best].0.source);
    let stackable: Vec<&(PromotionId, Rate, Stacking)> =
        promotions.iter().filter(|(_, _, stacking)| *stacking == Stacking::Stackable).collect();
    let stacked: Vec<Rate> = stackable.iter().take(STACKED_PROMOTIONS_MAX).map(|(_, rate, _)| *rate).collect();
    let base_path = pricer.price(base_basis, &stacked)?;
    let mut winner: Option<(usize, Amount)> = None;
    let mut promotion_candidates = Vec::with_capacity(promotions.len());
    for (index, (promotion_id, rate, stacking)) in promotions.iter().enumerate() {
        let exclusive = *stacking == Stacking::Exclusive;
        let price = if exclusive { pricer.price(PriceBasis::Rate(*rate), &[])? } else { base_path };
        let mut candidate =
            PriceCandidate::new(RateSource::Promotion, CandidateKind::Promotion, PriceBasis::Rate(*rate), price);
        candidate.promotion_id = Some(*promotion_id);
        candidate.stacking = Some(*stacking);
        if exclusive && price < winner.map_or(base_path, |(_, price)| price) {
            winner = Some((index, price));
        }
        promotion_candidates.push(candidate);
    }
    let mut candidates: Vec<PriceCandidate> = base.into_iter().map(|(candidate, _)| candidate).collect();
    let stacked_ids: Vec<PromotionId> =
        stackable.iter().take(STACKED_PROMOTIONS_MAX).map(|(promotion_id, _, _)| *promotion_id).collect();
    let level = match winner {
        None => {
            candidates[best].applied = true;
            candidates[best].reason = CandidateReason::Lowest;
            for candidate in &mut promotion_candidates {
                if candidate.promotion_id.is_some_and(|id| stacked_ids.contains(&id)) {
                    candidate.applied = true;
                    candidate.reason = CandidateReason::Stacked;
                } else if candidate.stacking == Some(Stacking::Stackable) {
                    candidate.reason = CandidateReason::Excluded;
                }
            }
            let source = if stacked.is_empty() { base_source } else { RateSource::Promotion };
            LevelPricing { org_id, basis: base_basis, stacked, source, candidates: Vec::new() }
        }
        Some((index, _)) => {
            for candidate in &mut promotion_candidates {
                if candidate.stacking == Some(Stacking::Stackable) {
                    candidate.reason = CandidateReason::Excluded;
                }
            }
            promotion_candidates[index].applied = true;
            promotion_candidates[index].reason = CandidateReason::Lowest;
            let basis = PriceBasis::Rate(promotions[index].1);
            LevelPricing { org_id, basis, stacked: Vec::new(), source: RateSource::Promotion, candidates: Vec::new() }
        }
    };
    candidates.extend(promotion_candidates);
    Ok(Some(LevelPricing { candidates, ..level }))
}

// The folds of this family's events into the state (see `State::evolve`).

pub(super) fn order_placed(state: &mut State, event: &OrderPlaced) {
    state.orders.insert(
        event.order_id,
        Order {
            order_id: event.order_id,
            customer_id: event.customer_id,
            seller_id: event.seller_id,
            items: event.items.clone(),
            total: event.total,
            status: OrderStatus::PendingPayment,
            paid: Amount::ZERO,
            refunded: Amount::ZERO,
            reversed: Vec::new(),
            subscription_end: None,
            salesperson: event.salesperson.clone(),
            fulfilled: false,
            commissions: Vec::new(),
            placed_at: None,
            vouchers: Vec::new(),
            voucher_paid: Amount::ZERO,
            voucher_returned: Amount::ZERO,
        },
    );
}

pub(super) fn order_paid(state: &mut State, event: &OrderPaid) {
    let order = state.orders.get_mut(&event.order_id).expect("known order");
    order.status = OrderStatus::Paid;
    order.paid = event.total;
    for item in &order.items {
        state.first_orders_used.insert((order.seller_id, order.customer_id, item.product_id));
    }
    state.add_invoiceable(event.customer_id, event.total);
}

pub(super) fn order_fulfilled(state: &mut State, event: &OrderFulfilled) {
    let order = state.orders.get_mut(&event.order_id).expect("known order");
    order.status = OrderStatus::Fulfilled;
    order.fulfilled = true;
    order.subscription_end = event.subscription_end;
}

pub(super) fn order_cancelled(state: &mut State, event: &OrderCancelled) {
    state.orders.get_mut(&event.order_id).expect("known order").status = OrderStatus::Cancelled;
}

pub(super) fn order_refunded(state: &mut State, event: &OrderRefunded) {
    let order = state.orders.get_mut(&event.order_id).expect("known order");
    let shares = order_shares(&order.items, order.customer_id).expect("shares placing checked");
    let parts = refund_parts(order, &shares, event.amount).expect("parts the refund checked");
    order.reversed.resize(shares.len(), ShareAmounts::default());
    for (reversed, part) in order.reversed.iter_mut().zip(parts) {
        reversed.list = reversed.list.plus(part.list);
        reversed.price = reversed.price.plus(part.price);
        reversed.cost = reversed.cost.plus(part.cost);
    }
    order.refunded = event.refunded_total;
    order.status = if event.fully_refunded { OrderStatus::Refunded } else { OrderStatus::PartiallyRefunded };
    let customer = order.customer_id;
    // What was invoiced stays invoiced: beyond what is invoiceable, the refund is over-invoiced
    // until a red-letter invoice makes up for it.
    state.refund_invoiceable(customer, event.amount.minus(event.penalty));
}

pub(super) fn usage_charged(state: &mut State, event: &UsageCharged) {
    state.usages.insert(event.usage_id);
    state.add_invoiceable(event.customer_id, event.total);
}

pub(super) fn subscription_renewed(state: &mut State, event: &SubscriptionRenewed) {
    state.renewals.insert(event.renewal_id);
    state.orders.get_mut(&event.order_id).expect("known order").subscription_end = Some(event.new_end);
    state.add_invoiceable(event.customer_id, event.total);
}

pub(super) fn commission_accrued(state: &mut State, event: &CommissionAccrued) {
    if let Some(order) = state.orders.get_mut(&OrderId(event.source_id)) {
        order.commissions.push(OrderCommission {
            payer_id: event.payer_id,
            reseller_id: event.reseller_id,
            amount: event.amount,
            reversed: Amount::ZERO,
        });
    }
}

pub(super) fn commission_reversed(state: &mut State, event: &CommissionReversed) {
    let order = state.orders.get_mut(&OrderId(event.source_id)).expect("reversals are of order commissions");
    let commission = order
        .commissions
        .iter_mut()
        .find(|commission| commission.payer_id == event.payer_id && commission.reseller_id == event.reseller_id)
        .expect("the commission being reversed");
    commission.reversed = commission.reversed.plus(event.amount);
}
