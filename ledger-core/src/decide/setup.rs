//! Organisations, charts, posting rules, products, rates, promotions and custom business kinds.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::approval_policy::{default_levels, ApprovalAction};
use crate::chart::{codes, Account, AccountCode, AccountType};
use crate::command::SetupCommand;
use crate::error::DomainError;
use crate::event::*;
use crate::ids::{ApprovalId, InviteCode, OrgId, ProductId, PromotionId};
use crate::journal::Posting;
use crate::money::{Amount, Currency, Rate, UnitPrice};
use crate::org::{Org, OrgKind, SaleMode};
use crate::permissions::Permission;
use crate::pricing::{PriceBasis, PriceRule, PriceWindow, PromotionReach, RateScope, RateWindow, PRICE_TIERS_MAX};
use crate::rules::{builtin_kind_amounts, default_rules, PartyRef, PostingRule, RuleSet};

use crate::state::{Book, Product, State};

use super::{prose_field, text_field, Decider};

impl Decider<'_> {
    pub(super) fn decide_setup(&self, command: &SetupCommand) -> Result<Vec<Event>, DomainError> {
        use SetupCommand as C;
        match command {
            C::Bootstrap { platform_id, name, currency } => self.bootstrap(*platform_id, name, *currency),
            C::OpenOrg { org_id, kind, name, parent_id, sale_mode } => {
                self.open_org(*org_id, *kind, name, *parent_id, *sale_mode)
            }
            C::OpenAccount { book, code, name, account_type } => self.open_account(*book, code, name, *account_type),
            C::SetPostingRules { rules } => self.set_posting_rules(rules),
            C::SetSaleMode { reseller_id, sale_mode, effective_from } => {
                self.set_sale_mode(reseller_id, sale_mode, *effective_from)
            }
            C::CreateProduct { product_id, name, supplier_id, list_price, unit, currency } => {
                self.create_product(product_id, name, supplier_id, list_price, unit, *currency)
            }
            C::SetExchangeRate { book, currency, rate, source, effective_from } => {
                let kept = self.book_for(*book, Permission::ExchangeRatesWrite)?.currency;
                if *currency == kept {
                    let reason = format!("{currency} is the book's own currency: its rate is 1");
                    return Err(DomainError::invalid_field("currency", reason));
                }
                let event = ExchangeRateSet {
                    book: *book,
                    currency: *currency,
                    rate: *rate,
                    source: text_field("source", source)?,
                    effective_from: *effective_from,
                };
                Ok(vec![Event::new(EventPayload::ExchangeRateSet(event))])
            }
            C::SetSupplierRate { product_id, rate } => {
                let product = self.product(*product_id)?;
                self.book_for(product.owner_id, Permission::SupplierRatesWrite)?;
                let event = SupplierRateSet { product_id: *product_id, rate: *rate };
                Ok(vec![Event::new(EventPayload::SupplierRateSet(event))])
            }
            C::SetRate { book, product_id, scope, rate, valid_from, valid_to, approval_id } => {
                let event = RateSet {
                    book: *book,
                    product_id: *product_id,
                    scope: *scope,
                    rate: *rate,
                    valid_from: *valid_from,
                    valid_to: *valid_to,
                };
                self.set_rate(event, *approval_id)
            }
            C::CreatePromotion { promotion_id, book, name, rates, valid_from, valid_to, approval_id } => {
                self.create_promotion(promotion_id, book, name, rates, valid_from, valid_to, *approval_id)
            }
            C::SetPrice { book, product_id, scope, rule, valid_from, valid_to, approval_id } => {
                let event = PriceSet {
                    book: *book,
                    product_id: *product_id,
                    scope: *scope,
                    rule: rule.clone(),
                    valid_from: *valid_from,
                    valid_to: *valid_to,
                };
                self.set_price(event, *approval_id)
            }
            C::SetPromotionTerms { promotion_id, stacking, reach } => {
                let promotion = self.state.promotions.get(promotion_id);
                let promotion = promotion.ok_or_else(|| DomainError::not_found("promotion", promotion_id))?;
                let book = promotion.book;
                self.book_for(book, Permission::PricesWrite)?;
                let current = self.state.promotion_terms.get(promotion_id).map(|terms| terms.reach);
                let reach = reach.or(current).unwrap_or_default();
                let event = PromotionTermsSet { promotion_id: *promotion_id, book, stacking: *stacking, reach };
                Ok(vec![Event::new(EventPayload::PromotionTermsSet(event))])
            }
            C::CreateInviteCode { code, book, promotion_id, salesperson } => {
                self.create_invite_code(code, book, promotion_id, salesperson)
            }
            C::BookBusiness { kind, role, book, amounts, parties, memo } => {
                self.book_business(kind, role, book, amounts, parties, memo)
            }
        }
    }

    fn set_posting_rules(&self, rules: &[PostingRule]) -> Result<Vec<Event>, DomainError> {
        self.book_for(self.platform_id(), Permission::AccountsWrite)?;
        let rules = self
            .state
            .rules
            .propose(rules.to_vec())
            .map_err(|(index, reason)| DomainError::RuleUnbalanced { index, reason })?;
        Ok(vec![Event::new(EventPayload::PostingRulesSet(PostingRulesSet { rules }))])
    }

    fn set_sale_mode(
        &self,
        reseller_id: &OrgId,
        sale_mode: &SaleMode,
        effective_from: Option<NaiveDate>,
    ) -> Result<Vec<Event>, DomainError> {
        let reseller = self.visible_org(*reseller_id, "reseller")?;
        let parent = reseller.parent_id.filter(|_| reseller.kind == OrgKind::Reseller);
        let parent = parent.ok_or_else(|| DomainError::not_found("reseller", reseller_id))?;
        self.book_for(parent, Permission::OrgsWrite)?;
        let today = self.command.effective_date;
        match effective_from {
            Some(date) if date < today => Err(DomainError::invalid_field(
                "effective_from",
                format!("must not be before today ({today}): orders already placed keep their mode"),
            )),
            Some(effective_from) if effective_from > today => {
                let event = SaleModeScheduled { reseller_id: *reseller_id, sale_mode: *sale_mode, effective_from };
                Ok(vec![Event::new(EventPayload::SaleModeScheduled(event))])
            }
            _ => {
                let event = SaleModeSet { reseller_id: *reseller_id, sale_mode: *sale_mode };
                Ok(vec![Event::new(EventPayload::SaleModeSet(event))])
            }
        }
    }

    fn create_product(
        &self,
        product_id: &ProductId,
        name: &String,
        supplier_id: &OrgId,
        list_price: &UnitPrice,
        unit: &String,
        currency: Option<Currency>,
    ) -> Result<Vec<Event>, DomainError> {
        let supplier = self.visible_org(*supplier_id, "supplier")?;
        if supplier.kind != OrgKind::Supplier {
            return Err(DomainError::not_found("supplier", supplier_id));
        }
        let owner_id = supplier.parent_id.expect("suppliers belong to an org");
        let kept = self.book_for(owner_id, Permission::ProductsWrite)?.currency;
        if self.state.products.contains_key(product_id) {
            return Err(DomainError::AlreadyExists { what: "product", id: product_id.to_string() });
        }
        // Priced in the currency named, else the supplier agreement's, else the book's; the
        // book's own is not written down.
        let currency = currency.or_else(|| self.state.supplier_currencies.get(supplier_id).copied());
        let event = ProductCreated {
            product_id: *product_id,
            name: text_field("name", name)?,
            supplier_id: *supplier_id,
            owner_id,
            list_price: *list_price,
            unit: text_field("unit", unit)?,
            currency: currency.filter(|currency| *currency != kept),
        };
        Ok(vec![Event::new(EventPayload::ProductCreated(event))])
    }

    fn create_promotion(
        &self,
        promotion_id: &PromotionId,
        book: &OrgId,
        name: &String,
        rates: &BTreeMap<ProductId, Rate>,
        valid_from: &NaiveDate,
        valid_to: &NaiveDate,
        approval_id: ApprovalId,
    ) -> Result<Vec<Event>, DomainError> {
        self.book_for(*book, Permission::PricesWrite)?;
        if self.state.promotions.contains_key(promotion_id) {
            return Err(DomainError::AlreadyExists { what: "promotion", id: promotion_id.to_string() });
        }
        if valid_from > valid_to {
            return Err(DomainError::invalid_field("valid_to", "must not be before valid_from"));
        }
        if rates.is_empty() {
            return Err(DomainError::invalid_field("rates", "a promotion needs at least one product"));
        }
        for product_id in rates.keys() {
            self.product(*product_id)
                .map_err(|_| DomainError::invalid_field(format!("rates.{product_id}"), "unknown product"))?;
        }
        let event = PromotionCreated {
            promotion_id: *promotion_id,
            book: *book,
            name: text_field("name", name)?,
            rates: rates.clone(),
            valid_from: *valid_from,
            valid_to: *valid_to,
        };
        // The approval decision point: a promotion with any rate below cost always waits.
        let below_cost =
            rates.iter().any(|(product, rate)| self.cost_rate(*book, *product).is_some_and(|cost| *rate < cost));
        if below_cost {
            self.new_approval_id(approval_id)?;
            let action = ApprovalAction::PromotionBelowCost;
            let levels = self.approval_levels(*book, action, None).unwrap_or_else(default_levels);
            let proposal = Proposal::CreatePromotion(event);
            return Ok(self.routed_approval_request(
                approval_id,
                *book,
                ApprovalKind::Promotion,
                proposal,
                action,
                levels,
            ));
        }
        Ok(vec![self.promotion_created(event)?])
    }

    /// A promotion created: at once, or once approved (its id still free).
    pub(super) fn promotion_created(&self, event: PromotionCreated) -> Result<Event, DomainError> {
        if self.state.promotions.contains_key(&event.promotion_id) {
            return Err(DomainError::AlreadyExists { what: "promotion", id: event.promotion_id.to_string() });
        }
        Ok(Event::new(EventPayload::PromotionCreated(event)))
    }

    fn create_invite_code(
        &self,
        code: &InviteCode,
        book: &OrgId,
        promotion_id: &Option<PromotionId>,
        salesperson: &Option<String>,
    ) -> Result<Vec<Event>, DomainError> {
        self.book_for(*book, Permission::PricesWrite)?;
        if self.state.invite_codes.contains_key(&(*book, code.clone())) {
            return Err(DomainError::AlreadyExists { what: "invite code", id: code.to_string() });
        }
        if let Some(promotion_id) = promotion_id {
            let promotion = self.state.promotions.get(promotion_id).filter(|promotion| promotion.book == *book);
            promotion.ok_or_else(|| DomainError::not_found("promotion", promotion_id))?;
        }
        let event = InviteCodeCreated {
            code: code.clone(),
            book: *book,
            promotion_id: *promotion_id,
            salesperson: super::optional_text("salesperson", salesperson)?,
        };
        Ok(vec![Event::new(EventPayload::InviteCodeCreated(event))])
    }

    fn book_business(
        &self,
        kind: &String,
        role: &String,
        book: &OrgId,
        amounts: &BTreeMap<String, Amount>,
        parties: &BTreeMap<PartyRef, OrgId>,
        memo: &String,
    ) -> Result<Vec<Event>, DomainError> {
        self.book_for(*book, Permission::AccountsWrite)?;
        // A built-in kind has its own command, with its checks and approvals: booking it
        // here would, say, credit a wallet with an offline recharge nobody approved.
        if builtin_kind_amounts(kind).is_some() {
            return Err(DomainError::invalid_field("kind", format!("{kind} is booked by its own command")));
        }
        for (reference, party) in parties {
            self.visible_org(*party, "party")
                .map_err(|_| DomainError::invalid_field(format!("parties.{reference:?}"), "unknown party"))?;
        }
        let payload = EventPayload::BusinessBooked(BusinessBooked {
            kind: kind.clone(),
            role: role.clone(),
            book: *book,
            amounts: amounts.clone(),
            parties: parties.clone(),
            memo: prose_field("memo", memo)?,
        });
        let mut posting = Posting::new(kind, role, *book);
        for (name, amount) in amounts {
            posting = posting.amount(name, *amount);
        }
        for (reference, party) in parties {
            posting = posting.party(*reference, *party);
        }
        let event = self.booked(payload, &[posting])?;
        if event.entries.is_empty() {
            return Err(DomainError::invalid_field("amounts", "every line evaluates to zero"));
        }
        self.check_custom_lines(*book, &event)?;
        Ok(vec![event])
    }

    /// What a custom kind, booked in one book, may not book whatever its rule says:
    /// - a receivable or payable with another book (or this one): it needs its mirror in that
    ///   book, which only the built-in flows book; one-sided, it would leave the two books'
    ///   inter-company balances apart (DESIGN §13);
    /// - a receivable (1122) with a customer: that is its arrears on credit, with due dates only
    ///   credit draws keep;
    /// - a line about a customer outside the customer's seller's book: a customer is a party of
    ///   the book it buys from (DESIGN §1), and its wallet is its 2203 there. Credited in another
    ///   book, the wallet would let the customer spend in its seller's book money that book never
    ///   received, taking its 2203 there below zero. (Party visibility keeps other tenants'
    ///   customers out today; this holds whatever the visibility rules become.)
    fn check_custom_lines(&self, book: OrgId, event: &Event) -> Result<(), DomainError> {
        for line in event.entries.iter().flat_map(|entry| &entry.lines) {
            let Some(party) = line.party else { continue };
            let code = line.account.as_str();
            if (code == codes::RECEIVABLES || code == codes::PAYABLES) && self.state.books.contains_key(&party) {
                return Err(DomainError::invalid_field(
                    "parties",
                    format!("{code} with book {party} is inter-company: only the built-in flows book both sides"),
                ));
            }
            let customer = self.state.orgs.get(&party).filter(|org| org.kind == OrgKind::Customer);
            // A customer's receivable is its arrears on credit (`decide::terms`): what credit
            // draws and repayments book, each with its due date, and nothing else.
            if customer.is_some() && code == codes::RECEIVABLES {
                return Err(DomainError::invalid_field(
                    "parties",
                    format!("1122 with customer {party} is its arrears: only credit draws and repayments book them"),
                ));
            }
            if let Some(seller) = customer.and_then(|customer| customer.parent_id).filter(|seller| *seller != book) {
                return Err(DomainError::invalid_field(
                    "parties",
                    format!("customer {party} is a party of its seller's book {seller}, not of {book}"),
                ));
            }
        }
        Ok(())
    }

    fn bootstrap(&self, platform_id: OrgId, name: &str, currency: Currency) -> Result<Vec<Event>, DomainError> {
        if self.state.platform_id.is_some() {
            return Err(DomainError::AlreadyBootstrapped);
        }
        let org = Org {
            id: platform_id,
            kind: OrgKind::Platform,
            name: text_field("name", name)?,
            parent_id: None,
            currency,
            sale_mode: SaleMode::Discount,
        };
        let rules = RuleSet::default().propose(default_rules()).expect("the default rules balance");
        Ok(vec![
            Event::new(EventPayload::OrgOpened(OrgOpened { org })),
            Event::new(EventPayload::PostingRulesSet(PostingRulesSet { rules })),
        ])
    }

    fn open_org(
        &self,
        org_id: OrgId,
        kind: OrgKind,
        name: &str,
        parent_id: OrgId,
        sale_mode: Option<SaleMode>,
    ) -> Result<Vec<Event>, DomainError> {
        if kind == OrgKind::Platform {
            return Err(DomainError::invalid_field("kind", "must be reseller, customer or supplier"));
        }
        // Customers and suppliers keep no book: they open nothing, whatever parent they name.
        let actor_org = self.state.orgs.get(&self.command.actor.org_id);
        if let Some(actor_org) = actor_org.filter(|org| !org.kind.keeps_book()) {
            return Err(DomainError::forbidden(format!(
                "a {} opens no organisations; the platform and resellers do",
                actor_org.kind.as_str()
            )));
        }
        let permission = if kind == OrgKind::Customer { Permission::CustomersWrite } else { Permission::OrgsWrite };
        let parent = self.book_for(parent_id, permission)?;
        self.not_closed(parent_id)?;
        if self.state.orgs.contains_key(&org_id) {
            return Err(DomainError::AlreadyExists { what: "org", id: org_id.to_string() });
        }
        if sale_mode.is_some() && kind != OrgKind::Reseller {
            return Err(DomainError::invalid_field("sale_mode", "only resellers have a sale mode"));
        }
        let org = Org {
            id: org_id,
            kind,
            name: text_field("name", name)?,
            parent_id: Some(parent_id),
            currency: parent.currency,
            sale_mode: sale_mode.unwrap_or(SaleMode::Discount),
        };
        Ok(vec![Event::new(EventPayload::OrgOpened(OrgOpened { org }))])
    }

    fn open_account(
        &self,
        book_id: OrgId,
        code: &str,
        name: &str,
        account_type: AccountType,
    ) -> Result<Vec<Event>, DomainError> {
        let book = self.book_for(book_id, Permission::AccountsWrite)?;
        let code = AccountCode::parse(code).map_err(|reason| DomainError::invalid_field("code", reason))?;
        if let Some(existing) = book.chart.get(&code) {
            if existing.account_type != account_type && book.accounts_with_lines.contains(&code) {
                return Err(DomainError::AccountRetype { account: code });
            }
        }
        let account = Account { code, name: text_field("name", name)?, account_type };
        Ok(vec![Event::new(EventPayload::AccountOpened(AccountOpened { book: book_id, account }))])
    }

    pub(super) fn product(&self, product_id: ProductId) -> Result<&crate::state::Product, DomainError> {
        self.state.products.get(&product_id).ok_or_else(|| DomainError::not_found("product", product_id))
    }

    fn set_rate(&self, event: RateSet, approval_id: ApprovalId) -> Result<Vec<Event>, DomainError> {
        self.book_for(event.book, Permission::PricesWrite)?;
        self.check_rate(&event)?;
        let (book, below_cost) = (event.book, self.below_cost(&event));
        self.set_or_routed(book, below_cost, approval_id, event, Proposal::SetRate, EventPayload::RateSet)
    }

    fn set_price(&self, event: PriceSet, approval_id: ApprovalId) -> Result<Vec<Event>, DomainError> {
        self.book_for(event.book, Permission::PricesWrite)?;
        self.check_price(&event)?;
        let (book, below_cost) = (event.book, self.price_below_cost(&event));
        self.set_or_routed(book, below_cost, approval_id, event, Proposal::SetPrice, EventPayload::PriceSet)
    }

    /// The approval decision point of a rate or a price: below the book's own cost, in any
    /// scope, it always waits for an approval (`SpecialRate`); otherwise it is set at once.
    fn set_or_routed<E>(
        &self,
        book: OrgId,
        below_cost: Option<ApprovalAction>,
        approval_id: ApprovalId,
        event: E,
        proposal: fn(E) -> Proposal,
        payload: fn(E) -> EventPayload,
    ) -> Result<Vec<Event>, DomainError> {
        let Some(action) = below_cost else { return Ok(vec![Event::new(payload(event))]) };
        self.new_approval_id(approval_id)?;
        let levels = self.approval_levels(book, action, None).unwrap_or_else(default_levels);
        let proposal = proposal(event);
        Ok(self.routed_approval_request(approval_id, book, ApprovalKind::SpecialRate, proposal, action, levels))
    }

    /// Whether a price may be set: what `check_rate` checks of its product, scope and window;
    /// a first-order price is for customers (public or one customer), not resellers; a tiered
    /// price has 1 to `PRICE_TIERS_MAX` tiers in strictly increasing `from_quantity`. Also run
    /// when an approved price takes effect.
    pub(super) fn check_price(&self, event: &PriceSet) -> Result<(), DomainError> {
        let as_rate = RateSet {
            book: event.book,
            product_id: event.product_id,
            scope: event.scope,
            rate: Rate::ONE,
            valid_from: event.valid_from,
            valid_to: event.valid_to,
        };
        self.check_rate(&as_rate)?;
        match &event.rule {
            PriceRule::Fixed { .. } => {}
            PriceRule::FirstOrder { .. } => {
                if matches!(event.scope, RateScope::Reseller(_)) {
                    return Err(DomainError::invalid_field("scope", "a first-order price is for customers"));
                }
            }
            PriceRule::Tiered { tiers } => {
                if tiers.is_empty() || tiers.len() > PRICE_TIERS_MAX {
                    return Err(DomainError::invalid_field("tiers", format!("1 to {PRICE_TIERS_MAX} tiers")));
                }
                if tiers.windows(2).any(|pair| pair[0].from_quantity >= pair[1].from_quantity) {
                    return Err(DomainError::invalid_field(
                        "tiers",
                        "from_quantity must increase strictly from one tier to the next",
                    ));
                }
            }
        }
        Ok(())
    }

    /// A price below what the book pays for the product today (its cost rate of today's list
    /// price): any of the rule's rates below the cost rate, or any unit price below the list
    /// price times the cost rate, is a sale below cost (the action of its scope).
    fn price_below_cost(&self, event: &PriceSet) -> Option<ApprovalAction> {
        let cost = self.cost_rate(event.book, event.product_id)?;
        let product = self.state.products.get(&event.product_id)?;
        let cost_unit = product.list_price_on(self.command.effective_date).as_decimal() * cost.as_decimal();
        let below = event.rule.bases().into_iter().any(|basis| match basis {
            PriceBasis::Rate(rate) => rate < cost,
            PriceBasis::UnitPrice(unit_price) => unit_price.as_decimal() < cost_unit,
        });
        if !below {
            return None;
        }
        Some(match event.scope {
            RateScope::Public => ApprovalAction::PublicRateBelowCost,
            RateScope::Customer(_) => ApprovalAction::CustomerRateBelowCost,
            RateScope::Reseller(_) => ApprovalAction::ResellerRateBelowCost,
        })
    }

    /// Whether a rate may be set in the book today: the product exists and is sold along a chain
    /// through the book, the scope names a child reseller or customer of the book, the window is
    /// well formed. Also run when an approved special rate takes effect.
    pub(super) fn check_rate(&self, event: &RateSet) -> Result<(), DomainError> {
        let product =
            self.product(event.product_id).map_err(|_| DomainError::invalid_field("product_id", "unknown product"))?;
        if self.chain_from(product.owner_id, event.book).is_none() {
            return Err(DomainError::NoPrice {
                field: "product_id".to_owned(),
                reason: "this book cannot buy the product: its supplier is not up its chain".to_owned(),
            });
        }
        if let (Some(from), Some(to)) = (event.valid_from, event.valid_to) {
            if from > to {
                return Err(DomainError::invalid_field("valid_to", "must not be before valid_from"));
            }
        }
        let wanted = match event.scope {
            RateScope::Public => return Ok(()),
            RateScope::Reseller(id) => (id, OrgKind::Reseller),
            RateScope::Customer(id) => (id, OrgKind::Customer),
        };
        let child =
            self.state.orgs.get(&wanted.0).filter(|org| org.kind == wanted.1 && org.parent_id == Some(event.book));
        child
            .map(|_| ())
            .ok_or_else(|| DomainError::invalid_field("scope", "no such child reseller or customer of this book"))
    }

    /// 特殊折扣: a rate below what the book itself pays for the product today, to the public, a
    /// customer or a child reseller, is a sale below cost: the policy's action for its scope.
    /// (A cost not known yet, a product without its supplier rate or a reseller without its
    /// parent's rate, cannot be sold below: nothing is sold without it.)
    fn below_cost(&self, event: &RateSet) -> Option<ApprovalAction> {
        let cost = self.cost_rate(event.book, event.product_id)?;
        if event.rate >= cost {
            return None;
        }
        Some(match event.scope {
            RateScope::Public => ApprovalAction::PublicRateBelowCost,
            RateScope::Customer(_) => ApprovalAction::CustomerRateBelowCost,
            RateScope::Reseller(_) => ApprovalAction::ResellerRateBelowCost,
        })
    }

    /// The rate of list at which `book` buys `product` today, if it is known.
    fn cost_rate(&self, book: OrgId, product_id: ProductId) -> Option<Rate> {
        let product = self.state.products.get(&product_id)?;
        if product.owner_id == book {
            return product.supplier_rate;
        }
        let parent = self.state.orgs.get(&book)?.parent_id?;
        let window: &RateWindow = self.state.rates.get(&(parent, product_id, RateScope::Reseller(book)))?;
        window.valid_on(self.command.effective_date).then_some(window.rate)
    }

    /// The orgs from `top` down to `seller`, when `seller` is `top` or below it.
    pub(super) fn chain_from(&self, top: OrgId, seller: OrgId) -> Option<Vec<OrgId>> {
        let mut chain = vec![seller];
        let mut current = seller;
        while current != top {
            current = self.state.orgs.get(&current)?.parent_id?;
            chain.push(current);
        }
        chain.reverse();
        Some(chain)
    }
}

// The folds of this family's events into the state (see `State::evolve`).

pub(super) fn org_opened(state: &mut State, OrgOpened { org }: &OrgOpened) {
    if org.kind == OrgKind::Platform {
        state.platform_id = Some(org.id);
    }
    if org.kind.keeps_book() {
        state.books.insert(org.id, Book::new(org.id, org.currency));
    }
    state.orgs.insert(org.id, org.clone());
}

pub(super) fn account_opened(state: &mut State, event: &AccountOpened) {
    let book = state.books.get_mut(&event.book).expect("account opened in an open book");
    book.chart.open(event.account.clone());
}

pub(super) fn posting_rules_set(state: &mut State, event: &PostingRulesSet) {
    state.rules.adopt(&event.rules);
}

/// Today's mode; what was scheduled before today is in force already and is dropped, what is
/// scheduled after it stays.
pub(super) fn sale_mode_set(state: &mut State, event: &SaleModeSet) {
    state.orgs.get_mut(&event.reseller_id).expect("known reseller").sale_mode = event.sale_mode;
    state.scheduled_sale_modes.remove(&event.reseller_id);
}

pub(super) fn sale_mode_scheduled(state: &mut State, event: &SaleModeScheduled) {
    state.scheduled_sale_modes.entry(event.reseller_id).or_default().insert(event.effective_from, event.sale_mode);
}

pub(super) fn product_created(state: &mut State, event: &ProductCreated) {
    state.products.insert(
        event.product_id,
        Product {
            product_id: event.product_id,
            name: event.name.clone(),
            supplier_id: event.supplier_id,
            owner_id: event.owner_id,
            list_price: event.list_price,
            unit: event.unit.clone(),
            supplier_rate: None,
            off_shelf: false,
            hidden_from: Default::default(),
            scheduled_prices: Default::default(),
            currency: event.currency,
        },
    );
}

pub(super) fn exchange_rate_set(state: &mut State, event: &ExchangeRateSet) {
    let rates = state.exchange_rates.entry((event.book, event.currency)).or_default();
    rates.insert(event.effective_from, (event.rate, event.source.clone()));
}

pub(super) fn supplier_rate_set(state: &mut State, event: &SupplierRateSet) {
    state.products.get_mut(&event.product_id).expect("known product").supplier_rate = Some(event.rate);
}

pub(super) fn rate_set(state: &mut State, event: &RateSet) {
    let window = RateWindow { rate: event.rate, valid_from: event.valid_from, valid_to: event.valid_to };
    state.rates.insert((event.book, event.product_id, event.scope), window);
}

pub(super) fn price_set(state: &mut State, event: &PriceSet) {
    let window = PriceWindow { rule: event.rule.clone(), valid_from: event.valid_from, valid_to: event.valid_to };
    state.prices.insert((event.book, event.product_id, event.scope, event.rule.kind()), window);
}

pub(super) fn promotion_terms_set(state: &mut State, event: &PromotionTermsSet) {
    let open = state.open_promotions.entry(event.book).or_default();
    match event.reach {
        PromotionReach::Everyone => open.insert(event.promotion_id),
        PromotionReach::InviteCode => open.remove(&event.promotion_id),
    };
    state.promotion_terms.insert(event.promotion_id, event.clone());
}

pub(super) fn promotion_created(state: &mut State, event: &PromotionCreated) {
    state.promotions.insert(event.promotion_id, event.clone());
}

pub(super) fn invite_code_created(state: &mut State, event: &InviteCodeCreated) {
    state.invite_codes.insert((event.book, event.code.clone()), event.clone());
}
