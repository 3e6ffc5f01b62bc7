//! The console's words in English and Chinese (zh-CN), and how a language is chosen: the
//! `kboss_lang` cookie a person set with the switch, else the browser's `Accept-Language`.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Zh,
            Lang::Zh => Lang::En,
        }
    }

    pub fn parse(text: &str) -> Option<Lang> {
        match text {
            "en" => Some(Lang::En),
            "zh-CN" => Some(Lang::Zh),
            _ => None,
        }
    }

    /// The first of the browser's languages that the console speaks (by order of the header;
    /// quality values are written in that order by browsers), English when none.
    pub fn from_accept_language(header: &str) -> Lang {
        for tag in header.split(',') {
            let tag = tag.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if tag.starts_with("zh") {
                return Lang::Zh;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::En
    }

    /// The word for `key`; the key itself when the table has none (a test catches that).
    pub fn t(self, key: &str) -> &'static str {
        match WORDS.iter().find(|(k, _, _)| *k == key) {
            Some((_, en, zh)) => match self {
                Lang::En => en,
                Lang::Zh => zh,
            },
            None => "?",
        }
    }
}

/// `(key, English, Chinese)`.
pub const WORDS: &[(&str, &str, &str)] = &[
    ("app", "KBOSS Finance Console", "KBOSS 财务控制台"),
    ("switch_lang", "中文", "English"),
    ("sign_in", "Sign in", "登录"),
    ("sign_out", "Sign out", "退出"),
    ("token", "Access token", "访问令牌"),
    (
        "token_help",
        "Paste the token you were given (kb_…). Users of this ledger sign in with a token.",
        "粘贴您的访问令牌（kb_…）。本系统以令牌登录。",
    ),
    ("bad_token", "That token was not accepted", "令牌无效"),
    (
        "csrf_refused",
        "The form's security token is missing or stale. Reload the page and try again.",
        "表单安全令牌缺失或已过期，请刷新页面后重试。",
    ),
    ("dashboard", "Dashboard", "概览"),
    ("approvals", "Approvals", "审批"),
    ("customers", "Customers", "客户"),
    ("resellers", "Resellers", "经销商"),
    ("orders", "Orders", "订单"),
    ("books", "Books", "账簿"),
    ("settlements", "Settlements & periods", "结算与期间"),
    ("operations", "Operations", "运维"),
    ("menu", "Menu", "菜单"),
    ("signed_in_as", "Signed in as", "当前用户"),
    ("revenue", "Revenue", "收入"),
    ("discounts", "Discounts", "折扣"),
    ("cost", "Cost", "成本"),
    ("gross_profit", "Gross profit", "毛利"),
    ("by_month", "By month", "按月"),
    ("top_products", "Top products", "热销产品"),
    ("top_resellers", "Top resellers", "主要经销商"),
    ("top_customers", "Top customers", "主要客户"),
    ("wallets", "Customer wallets (cash)", "客户钱包（现金）"),
    ("vouchers", "Vouchers outstanding", "代金券余额"),
    ("pending_approvals", "Pending approvals", "待审批"),
    ("projection_lag", "Projection lag (events)", "投影延迟（事件）"),
    ("name", "Name", "名称"),
    ("none", "Nothing to show", "暂无数据"),
    ("pending", "Pending", "待处理"),
    ("history", "History", "历史"),
    ("kind", "Kind", "类型"),
    ("amount", "Amount", "金额"),
    ("customer", "Customer", "客户"),
    ("reference", "Reference", "备注"),
    ("requested", "Requested", "申请时间"),
    ("would_book", "Would book", "将记账"),
    ("comment", "Comment", "意见"),
    ("approve", "Approve", "批准"),
    ("reject", "Reject", "驳回"),
    ("status", "Status", "状态"),
    ("decided_by", "Decided by", "审批人"),
    ("search", "Search", "搜索"),
    ("search_by_name", "Name contains", "名称包含"),
    ("balance", "Balance", "余额"),
    ("cash", "Cash", "现金"),
    ("available", "Available", "可用"),
    ("credit_limit", "Credit limit", "信用额度"),
    ("arrears", "Arrears", "欠费"),
    ("profile", "Profile", "资料"),
    ("statement", "Statement", "对账单"),
    ("users", "Users and tokens", "用户与令牌"),
    ("roles", "Roles", "角色"),
    ("opening", "Opening", "期初"),
    ("closing", "Closing", "期末"),
    ("date", "Date", "日期"),
    ("account", "Account", "科目"),
    ("debit", "Debit", "借方"),
    ("credit", "Credit", "贷方"),
    ("total", "Total", "合计"),
    ("paid", "Paid", "已付"),
    ("refunded", "Refunded", "已退"),
    ("placed_on", "Placed on", "下单日期"),
    ("order", "Order", "订单"),
    ("items", "Items", "明细"),
    ("product", "Product", "产品"),
    ("quantity", "Quantity", "数量"),
    ("periods", "Periods", "周期数"),
    ("unit_price", "Unit price", "单价"),
    ("waterfall", "Price waterfall", "价格瀑布"),
    ("list_amount", "List amount", "标价"),
    ("supplier_price", "Supplier price", "供应商价"),
    ("org", "Organisation", "组织"),
    ("rate", "Rate", "费率"),
    ("price", "Price", "售价"),
    ("margin", "Margin", "毛利"),
    ("no_levels", "The margins along the chain are not yours to see.", "渠道各级毛利对您不可见。"),
    ("pay", "Pay from balance", "余额支付"),
    ("refund", "Refund", "退款"),
    ("reason", "Reason", "原因"),
    ("penalty", "Penalty", "违约金"),
    ("place_order", "Place an order", "下单"),
    ("filter", "Filter", "筛选"),
    ("from", "From", "起"),
    ("to", "To", "止"),
    ("any", "Any", "全部"),
    ("trial_balance", "Trial balance", "试算平衡表"),
    ("as_of", "As of", "截至"),
    ("show", "Show", "显示"),
    ("ledger", "Ledger", "明细账"),
    ("party", "Party", "往来方"),
    ("position", "Position", "位置"),
    ("event", "Event", "事件"),
    ("event_type", "Event type", "事件类型"),
    ("hash", "Hash", "哈希"),
    ("prev_hash", "Previous hash", "前一哈希"),
    ("previous_event", "Previous event", "上一事件"),
    ("recorded_at", "Recorded at", "记录时间"),
    ("entries", "Entries", "分录"),
    ("book", "Book", "账簿"),
    ("rule", "Rule", "规则"),
    ("export_csv", "Download CSV", "下载 CSV"),
    ("export_beancount", "Download Beancount", "下载 Beancount"),
    ("run_statement", "Run a statement", "生成结算单"),
    ("counterparty", "Counterparty", "对方"),
    ("run", "Run", "生成"),
    ("receivable", "Receivable", "应收"),
    ("payable", "Payable", "应付"),
    ("statement_hash", "Statement hash", "结算单哈希"),
    ("close_period", "Close a period", "结账"),
    ("through", "Through", "截止日"),
    ("close", "Close", "结账"),
    ("certificates", "Period certificates", "结账证书"),
    ("signature", "Signature", "签名"),
    ("writer_position", "Writer position", "写入位置"),
    ("read_position", "Read models position", "读模型位置"),
    ("event_rate", "Events per second (since start)", "事件速率（启动以来，每秒）"),
    ("events_written", "Events written since start", "启动以来写入事件"),
    ("projection", "Projection", "投影"),
    ("lag", "Lag", "延迟"),
    ("done", "Done.", "已完成。"),
    ("error", "The ledger refused this", "操作被拒绝"),
    ("field", "Field", "字段"),
    ("back", "Back", "返回"),
    ("not_allowed", "Your roles do not allow this page.", "您的角色无权查看此页面。"),
    ("skip", "Skip to content", "跳到正文"),
    ("open", "Open", "打开"),
    ("currency", "Currency", "币种"),
    ("this_is_you", "Your account", "我的账户"),
    ("label", "Label", "标签"),
    ("expires", "Expires", "过期"),
    ("period", "Period", "期间"),
    ("up", "Up", "正常"),
    ("down", "Down", "异常"),
    ("read_models", "Read models", "读模型"),
    ("tokens", "Access tokens", "访问令牌"),
    ("revoke", "Revoke", "吊销"),
    ("voucher", "Voucher", "代金券"),
    ("owed", "Owed", "应付外币"),
    ("source", "Source", "来源"),
    ("booked", "Booked", "入账金额"),
    ("exchange_difference", "Exchange difference", "汇兑损益"),
];
