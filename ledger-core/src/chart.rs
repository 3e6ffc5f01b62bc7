//! Charts of accounts (会计科目): codes, types, normal sides and the default chart of DESIGN §2.2.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// An account code: four digits, optionally a dot and two more (`2203`, `6001.99`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct AccountCode(String);

impl AccountCode {
    pub fn parse(text: &str) -> Result<AccountCode, String> {
        let bytes = text.as_bytes();
        let head_ok = bytes.len() >= 4 && bytes[..4].iter().all(u8::is_ascii_digit);
        let tail_ok = match bytes.len() {
            4 => true,
            7 => bytes[4] == b'.' && bytes[5..].iter().all(u8::is_ascii_digit),
            _ => false,
        };
        if head_ok && tail_ok {
            Ok(AccountCode(text.to_owned()))
        } else {
            Err("must be four digits, optionally followed by '.' and two digits".to_owned())
        }
    }

    /// For the codes of the default chart, which are known to be well formed.
    pub fn known(text: &'static str) -> AccountCode {
        AccountCode::parse(text).expect("a well-formed built-in account code")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AccountCode {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        AccountCode::parse(&text)
    }
}

impl From<AccountCode> for String {
    fn from(code: AccountCode) -> String {
        code.0
    }
}

impl fmt::Display for AccountCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl fmt::Debug for AccountCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "AccountCode({})", self.0)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Debit,
    Credit,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Debit => Side::Credit,
            Side::Credit => Side::Debit,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    Asset,
    Liability,
    Equity,
    Revenue,
    /// A revenue account on the debit side: sales discounts (6001.99).
    ContraRevenue,
    Expense,
}

impl AccountType {
    /// The side on which the account's balance is positive.
    pub fn normal_side(self) -> Side {
        match self {
            AccountType::Asset | AccountType::Expense | AccountType::ContraRevenue => Side::Debit,
            AccountType::Liability | AccountType::Equity | AccountType::Revenue => Side::Credit,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Account {
    pub code: AccountCode,
    pub name: String,
    pub account_type: AccountType,
}

pub mod codes {
    pub const BANK: &str = "1002";
    pub const CHANNEL_CLEARING: &str = "1012";
    pub const RECEIVABLES: &str = "1122";
    pub const PAYABLES: &str = "2202";
    pub const CUSTOMER_PREPAYMENTS: &str = "2203";
    /// Voucher credit (代金券) owed to customers, apart from their cash in 2203: opened in a
    /// book by its first voucher grant (`voucher_account`), not part of the default chart.
    pub const CUSTOMER_VOUCHERS: &str = "2203.01";
    pub const CONTRACT_LIABILITIES: &str = "2205";
    pub const REVENUE: &str = "6001";
    pub const SALES_DISCOUNTS: &str = "6001.99";
    pub const OTHER_INCOME: &str = "6051";
    pub const COST_OF_SALES: &str = "6401";
    pub const SELLING_EXPENSES: &str = "6601";
    /// Exchange differences (财务费用-汇兑损益): opened in a book by its first settlement paid in a
    /// foreign currency (`exchange_account`), not part of the default chart.
    pub const EXCHANGE_DIFFERENCES: &str = "6603";
}

/// The chart every new book opens with (DESIGN §2.2).
pub fn default_chart() -> Vec<Account> {
    use AccountType::*;
    let rows: [(&'static str, &str, AccountType); 11] = [
        (codes::BANK, "Bank deposits 银行存款", Asset),
        (codes::CHANNEL_CLEARING, "Payment-channel clearing 其他货币资金", Asset),
        (codes::RECEIVABLES, "Receivables 应收账款", Asset),
        (codes::PAYABLES, "Payables 应付账款", Liability),
        (codes::CUSTOMER_PREPAYMENTS, "Customer prepayments 预收账款", Liability),
        (codes::CONTRACT_LIABILITIES, "Contract liabilities 合同负债", Liability),
        (codes::REVENUE, "Revenue 主营业务收入", Revenue),
        (codes::SALES_DISCOUNTS, "Sales discounts 销售折扣", ContraRevenue),
        (codes::OTHER_INCOME, "Other income 其他业务收入", Revenue),
        (codes::COST_OF_SALES, "Cost of sales 主营业务成本", Expense),
        (codes::SELLING_EXPENSES, "Selling expenses 销售费用", Expense),
    ];
    rows.into_iter()
        .map(|(code, name, account_type)| Account {
            code: AccountCode::known(code),
            name: name.to_owned(),
            account_type,
        })
        .collect()
}

/// The voucher liability (2203.01, party: customer): what a book owes its customers in vouchers,
/// which can be spent on its sales and never withdrawn. A book opens it with its first voucher
/// grant (an `AccountOpened` in the same command), so books without vouchers, and every trial
/// balance written before vouchers, keep the chart they had.
pub fn voucher_account() -> Account {
    Account {
        code: AccountCode::known(codes::CUSTOMER_VOUCHERS),
        name: "Customer vouchers 预收账款-代金券".to_owned(),
        account_type: AccountType::Liability,
    }
}

/// Exchange differences (6603): what paying a foreign-currency payable cost beyond (or below)
/// what it was booked at. A book opens it with its first such payment (an `AccountOpened` in the
/// same command), as it opens 2203.01 with its first voucher.
pub fn exchange_account() -> Account {
    Account {
        code: AccountCode::known(codes::EXCHANGE_DIFFERENCES),
        name: "Financial expenses, exchange differences 财务费用-汇兑损益".to_owned(),
        account_type: AccountType::Expense,
    }
}

/// The accounts of one book, by code.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Chart {
    accounts: BTreeMap<AccountCode, Account>,
}

impl Chart {
    pub fn with_default_accounts() -> Chart {
        let mut chart = Chart::default();
        for account in default_chart() {
            chart.open(account);
        }
        chart
    }

    pub fn get(&self, code: &AccountCode) -> Option<&Account> {
        self.accounts.get(code)
    }

    pub fn contains(&self, code: &AccountCode) -> bool {
        self.accounts.contains_key(code)
    }

    pub fn open(&mut self, account: Account) {
        self.accounts.insert(account.code.clone(), account);
    }

    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_four_digits_and_an_optional_sub_code() {
        assert!(AccountCode::parse("2203").is_ok());
        assert!(AccountCode::parse("6001.99").is_ok());
        for bad in ["220", "22031", "6001.9", "6001-99", "abcd", "", "6001.999"] {
            assert!(AccountCode::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn the_default_chart_has_the_design_accounts_and_sides() {
        let chart = Chart::with_default_accounts();
        assert_eq!(chart.accounts().count(), 11);
        let side = |code| chart.get(&AccountCode::known(code)).unwrap().account_type.normal_side();
        assert_eq!(side(codes::SALES_DISCOUNTS), Side::Debit);
        assert_eq!(side(codes::CUSTOMER_PREPAYMENTS), Side::Credit);
        assert_eq!(side(codes::COST_OF_SALES), Side::Debit);
        assert_eq!(side(codes::REVENUE), Side::Credit);
    }
}
