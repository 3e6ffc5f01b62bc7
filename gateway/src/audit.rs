//! Close certificates an auditor checks without us: the deployment's Ed25519 key, the signed
//! certificate a close answers, and `kboss audit check`, which needs no server, no database and
//! no network.
//!
//! **The key** is generated at the first start and kept: embedded, in `<data-dir>/audit.key`
//! (the 32-byte seed in hex, mode 0600); in PostgreSQL mode, in the gateway's own store (table
//! `audit_key`, beside the operation log), so that every instance signs with the same key. The
//! public key is `GET /v1/audit/public-key`.
//!
//! **A certificate** is the `PeriodClosed` event's own certificate (book, period, last position,
//! trial-balance hash and totals, rule versions: decided by the ledger) with what only the log
//! knows, the chain hash at the last position (the event's `prev_hash`) and its own position,
//! signed: `signature` is Ed25519 over [`SignedCertificate::signed_text`], a few lines of plain
//! text anyone can rebuild from the JSON.
//!
//! **The trial balance's canonical text** is the compact JSON of its rows in code order, each
//! `{"code":…,"debit":…,"credit":…}` with amounts as decimal strings with two decimals, the
//! totals of every line of the book dated on or before `through`; its hash is the lowercase hex
//! SHA-256 of that text (`ledger_core::state::trial_balance_hash`). `kboss audit check`
//! recomputes it from the book's CSV export (`kboss export --book … --to <through>`, or
//! `GET /v1/books/{org}/export?format=csv&to=<through>`), whose every line carries its position
//! and its event's hash.
//!
//! A leaf: imports `operation_log` (whose store keeps the key in PostgreSQL mode).

use std::collections::BTreeMap;
use std::path::Path;

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use ledger_core::chart::AccountCode;
use ledger_core::event::{EventPayload, RecordedEvent};
use ledger_core::money::{Amount, Total};
use ledger_core::state::{trial_balance_hash, TrialBalanceRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::operation_log::{unavailable, OperationLogError, OperationStore};

/// The file of the embedded deployment's key, in the data directory (mode 0600).
pub const AUDIT_KEY_FILE: &str = "audit.key";
/// The only algorithm a certificate is signed with.
pub const ALGORITHM: &str = "ed25519";
/// The first line of the signed text: the certificate's format and version.
pub const CERTIFICATE_FORMAT: &str = "kboss close certificate v1";

/// The deployment's signing key. Its seed never leaves the data directory or the gateway's store.
pub struct AuditKey {
    signing: SigningKey,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "AuditKey({})", self.public_key())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditKeyError {
    #[error("the audit key {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("the audit key {0} is not 64 hex digits (an Ed25519 seed); restore it from a backup")]
    Corrupt(String),
    #[error("the audit key: {0}")]
    Store(#[from] OperationLogError),
}

const CREATE_POSTGRES: &str =
    "INSERT INTO audit_key (id, seed, created_at_micros) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING";
const SELECT_POSTGRES: &str = "SELECT seed FROM audit_key WHERE id = 1";

impl AuditKey {
    pub fn from_seed(seed: [u8; 32]) -> AuditKey {
        AuditKey { signing: SigningKey::from_bytes(&seed) }
    }

    /// A new key from the operating system's random source.
    pub fn generate() -> AuditKey {
        use rand::RngCore;
        let mut seed = [0_u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        AuditKey::from_seed(seed)
    }

    fn parse(text: &str, what: &str) -> Result<AuditKey, AuditKeyError> {
        let bytes = hex::decode(text.trim()).map_err(|_| AuditKeyError::Corrupt(what.to_owned()))?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| AuditKeyError::Corrupt(what.to_owned()))?;
        Ok(AuditKey::from_seed(seed))
    }

    fn seed_hex(&self) -> String {
        hex::encode(self.signing.to_bytes())
    }

    /// The deployment's key, created at the first call: `<data_dir>/audit.key` embedded, the
    /// gateway's store's `audit_key` row in PostgreSQL mode (the first instance's wins a race).
    pub async fn open_or_create(data_dir: &Path, store: &OperationStore) -> Result<AuditKey, AuditKeyError> {
        match store {
            OperationStore::Sqlite { .. } => {
                let data_dir = data_dir.to_owned();
                tokio::task::spawn_blocking(move || AuditKey::open_or_create_file(&data_dir))
                    .await
                    .map_err(|error| AuditKeyError::Store(unavailable(error)))?
            }
            OperationStore::Postgres(pool) => {
                let client = pool.get().await.map_err(unavailable)?;
                let created = AuditKey::generate();
                let now = chrono::Utc::now().timestamp_micros();
                client.execute(CREATE_POSTGRES, &[&created.seed_hex(), &now]).await.map_err(unavailable)?;
                let row = client.query_one(SELECT_POSTGRES, &[]).await.map_err(unavailable)?;
                let seed: String = row.try_get(0).map_err(unavailable)?;
                AuditKey::parse(&seed, "row of table audit_key")
            }
        }
    }

    /// The key in `<data_dir>/audit.key`, written (0600, never replaced) when there is none.
    pub fn open_or_create_file(data_dir: &Path) -> Result<AuditKey, AuditKeyError> {
        use std::io::Write;
        let path = data_dir.join(AUDIT_KEY_FILE);
        let io = |source| AuditKeyError::Io { path: path.display().to_string(), source };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                let key = AuditKey::generate();
                file.write_all(format!("{}\n", key.seed_hex()).as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok(key)
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&path).map_err(io)?;
                AuditKey::parse(&text, &path.display().to_string())
            }
            Err(error) => Err(io(error)),
        }
    }

    /// The public key, lowercase hex of its 32 bytes.
    pub fn public_key(&self) -> String {
        hex::encode(self.signing.verifying_key().to_bytes())
    }

    /// The signed certificate of a `PeriodClosed` event as the log holds it (the answer to a
    /// close, and to its retry: Ed25519 signatures are deterministic, so the same bytes).
    pub fn certify(&self, event: &RecordedEvent) -> Result<SignedCertificate, String> {
        let EventPayload::PeriodClosed(closed) = &event.event.payload else {
            return Err(format!("event {} is not a PeriodClosed", event.position));
        };
        let certificate = &closed.certificate;
        // The close is its command's only event, decided on the state through the position
        // before it: the chain hash there is its own `prev_hash`.
        if certificate.last_position + 1 != event.position {
            return Err(format!(
                "the close at position {} states last position {}",
                event.position, certificate.last_position
            ));
        }
        let mut signed = SignedCertificate {
            version: 1,
            book: certificate.book.to_string(),
            through: certificate.through.to_string(),
            position: event.position,
            last_position: certificate.last_position,
            chain_hash: event.prev_hash.clone(),
            trial_balance_hash: certificate.trial_balance_hash.clone(),
            total_debit: certificate.total_debit.to_string(),
            total_credit: certificate.total_credit.to_string(),
            rule_versions: certificate.rule_versions.clone(),
            algorithm: ALGORITHM.to_owned(),
            public_key: self.public_key(),
            signature: String::new(),
        };
        signed.signature = hex::encode(self.signing.sign(signed.signed_text().as_bytes()).to_bytes());
        Ok(signed)
    }
}

/// `GET /v1/audit/public-key`; also what `kboss audit check --public-key` reads.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct PublicKeyBody {
    /// Always `ed25519`.
    pub algorithm: String,
    /// The 32 bytes of the Ed25519 public key, lowercase hex.
    pub public_key: String,
}

/// A close certificate, signed by the deployment's key. Everything an auditor checks offline
/// against the book's export for the period.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SignedCertificate {
    /// The certificate's format: 1.
    pub version: u32,
    /// The book (its org id).
    pub book: String,
    /// The period closed: every line dated on or before this day, `YYYY-MM-DD`.
    pub through: String,
    /// The position of the `PeriodClosed` event in the log.
    pub position: u64,
    /// The last position of the log when the period was closed: every line of the period is at
    /// or before it.
    pub last_position: u64,
    /// The hash chain's head at `last_position` (the event there's hash), lowercase hex.
    pub chain_hash: String,
    /// SHA-256 of the trial balance's canonical text (`crate::audit`'s module documentation).
    pub trial_balance_hash: String,
    pub total_debit: String,
    pub total_credit: String,
    /// `kind/role` → version of every posting rule in force.
    pub rule_versions: BTreeMap<String, u32>,
    /// `ed25519`.
    pub algorithm: String,
    /// The signing key's public half, lowercase hex (compare with `GET /v1/audit/public-key`).
    pub public_key: String,
    /// Ed25519 over `signed_text()`, lowercase hex of its 64 bytes.
    pub signature: String,
}

impl SignedCertificate {
    /// The text the signature covers, one `name value` line each, `\n`-terminated:
    ///
    /// ```text
    /// kboss close certificate v1
    /// book <uuid>
    /// through <YYYY-MM-DD>
    /// position <n>
    /// last_position <n>
    /// chain_hash <hex>
    /// trial_balance_hash <hex>
    /// total_debit <decimal>
    /// total_credit <decimal>
    /// rule <kind/role> <version>      (one line per rule, in byte order of kind/role)
    /// algorithm ed25519
    /// public_key <hex>
    /// ```
    pub fn signed_text(&self) -> String {
        use std::fmt::Write;
        let mut text = format!(
            "{CERTIFICATE_FORMAT}\nbook {}\nthrough {}\nposition {}\nlast_position {}\nchain_hash {}\n\
             trial_balance_hash {}\ntotal_debit {}\ntotal_credit {}\n",
            self.book,
            self.through,
            self.position,
            self.last_position,
            self.chain_hash,
            self.trial_balance_hash,
            self.total_debit,
            self.total_credit
        );
        for (rule, version) in &self.rule_versions {
            let _ = writeln!(text, "rule {rule} {version}");
        }
        let _ = write!(text, "algorithm {}\npublic_key {}\n", self.algorithm, self.public_key);
        text
    }

    /// Every text field is one token of visible characters: the signed text cannot be made to
    /// say two things.
    fn well_formed(&self) -> Result<(), String> {
        let token = |name: &str, value: &str| {
            if value.is_empty() || value.chars().any(|character| character.is_whitespace() || character.is_control()) {
                Err(format!("certificate: {name} must be one word, without spaces or line breaks"))
            } else {
                Ok(())
            }
        };
        for (name, value) in [
            ("book", &self.book),
            ("through", &self.through),
            ("chain_hash", &self.chain_hash),
            ("trial_balance_hash", &self.trial_balance_hash),
            ("total_debit", &self.total_debit),
            ("total_credit", &self.total_credit),
            ("algorithm", &self.algorithm),
            ("public_key", &self.public_key),
            ("signature", &self.signature),
        ] {
            token(name, value)?;
        }
        for rule in self.rule_versions.keys() {
            token("rule_versions", rule)?;
        }
        if self.version != 1 {
            return Err(format!("certificate: version {} is not one this kboss reads (1)", self.version));
        }
        if self.algorithm != ALGORITHM {
            return Err(format!("certificate: algorithm {:?} is not {ALGORITHM}", self.algorithm));
        }
        Ok(())
    }
}

/// What `kboss audit check` found: the figures it recomputed, and every check that failed.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// The export's lines within the period (dated on or before `through`).
    pub lines: usize,
    /// The distinct events those lines belong to.
    pub events: usize,
    /// The export's lines after `through` (not part of the period; ignored).
    pub later_lines: usize,
    pub total_debit: String,
    pub total_credit: String,
    pub trial_balance_hash: String,
    /// Each failed check in one sentence naming what failed; empty: the pair is genuine.
    pub failures: Vec<String>,
}

/// Reads a certificate: the close's answer (`{certificate, position}`) or the certificate alone.
pub fn read_certificate(text: &str) -> Result<SignedCertificate, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|error| format!("certificate: not JSON ({error})"))?;
    let value = match value.get("certificate") {
        Some(inner) if inner.is_object() => inner.clone(),
        _ => value,
    };
    serde_path_to_error::deserialize(value)
        .map_err(|error| format!("certificate: {} at {}", error.inner(), error.path()))
}

/// Reads a public key: the answer of `GET /v1/audit/public-key`, or its 64 hex digits alone.
pub fn read_public_key(text: &str) -> Result<VerifyingKey, String> {
    let text = text.trim();
    let hex_key = if text.starts_with('{') {
        let body: PublicKeyBody = serde_json::from_str(text)
            .map_err(|error| format!("public key: not the JSON of /v1/audit/public-key ({error})"))?;
        if body.algorithm != ALGORITHM {
            return Err(format!("public key: algorithm {:?} is not {ALGORITHM}", body.algorithm));
        }
        body.public_key
    } else {
        text.to_owned()
    };
    let bytes = hex::decode(&hex_key).map_err(|_| "public key: not hex".to_owned())?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| "public key: not 32 bytes (64 hex digits)".to_owned())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "public key: not a valid Ed25519 point".to_owned())
}

/// One line of a CSV export, as the check reads it.
struct ExportLine {
    row: usize,
    position: u64,
    date: chrono::NaiveDate,
    account: AccountCode,
    debit: Amount,
    credit: Amount,
    event_hash: String,
}

/// RFC 4180 records: fields split at commas, quoted fields with `""` for a quote and line breaks
/// inside. A trailing line break ends the last record.
pub(crate) fn csv_records(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut characters = text.chars().peekable();
    let mut at_field_start = true;
    while let Some(character) = characters.next() {
        if quoted {
            match character {
                '"' if characters.peek() == Some(&'"') => {
                    characters.next();
                    field.push('"');
                }
                '"' => quoted = false,
                other => field.push(other),
            }
            continue;
        }
        match character {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' if characters.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                at_field_start = true;
            }
            other => {
                field.push(other);
                at_field_start = false;
            }
        }
    }
    if quoted {
        return Err("export: a quoted field is not closed".to_owned());
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

/// The lines of a CSV export (`kboss export --format csv`): the columns `position`, `date`,
/// `account`, `debit`, `credit` and `event_hash` by their header's names, whatever else it has.
fn export_lines(text: &str) -> Result<Vec<ExportLine>, String> {
    let records = csv_records(text.strip_prefix('\u{feff}').unwrap_or(text))?;
    let Some((header, rows)) = records.split_first() else { return Err("export: the file is empty".to_owned()) };
    let column = |name: &str| {
        header
            .iter()
            .position(|title| title == name)
            .ok_or_else(|| format!("export: no column {name:?} (a CSV of `kboss export --format csv`?)"))
    };
    let (position, date, account, debit, credit, event_hash) = (
        column("position")?,
        column("date")?,
        column("account")?,
        column("debit")?,
        column("credit")?,
        column("event_hash")?,
    );
    let mut lines = Vec::with_capacity(rows.len());
    for (index, fields) in rows.iter().enumerate() {
        let row = index + 2;
        if fields.len() == 1 && fields[0].is_empty() {
            continue;
        }
        if fields.len() != header.len() {
            return Err(format!("export: row {row} has {} fields, the header {}", fields.len(), header.len()));
        }
        let bad = |name: &str, reason: String| format!("export: row {row}, {name}: {reason}");
        let amount = |index: usize, name: &str| {
            Amount::parse(&fields[index]).map_err(|error| bad(name, format!("{:?} {error}", fields[index])))
        };
        lines.push(ExportLine {
            row,
            position: fields[position].parse().map_err(|_| bad("position", format!("{:?}", fields[position])))?,
            date: fields[date].parse().map_err(|_| bad("date", format!("{:?}", fields[date])))?,
            account: AccountCode::parse(&fields[account]).map_err(|reason| bad("account", reason))?,
            debit: amount(debit, "debit")?,
            credit: amount(credit, "credit")?,
            event_hash: fields[event_hash].clone(),
        });
    }
    Ok(lines)
}

/// `kboss audit check`: the certificate's signature with the public key given, then the trial
/// balance recomputed from the export's lines of the period, against the certificate's hash and
/// totals, and the export's links to the log (every line at or before the last position, one
/// hash per event). Fails with the first reason a file cannot be read; otherwise reports every
/// check that failed.
pub fn check(certificate: &str, export: &str, public_key: &str) -> Result<CheckReport, String> {
    let certificate = read_certificate(certificate)?;
    let key = read_public_key(public_key)?;
    let lines = export_lines(export)?;
    let mut report = CheckReport::default();

    // The signature, with the key the auditor trusts (never the one the certificate names).
    match certificate.well_formed() {
        Err(reason) => report.failures.push(reason),
        Ok(()) => {
            let signature = hex::decode(&certificate.signature)
                .ok()
                .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
                .map(|bytes| ed25519_dalek::Signature::from_bytes(&bytes));
            match signature {
                None => report.failures.push("certificate: signature is not 64 bytes of hex".to_owned()),
                Some(signature) => {
                    if key.verify(certificate.signed_text().as_bytes(), &signature).is_err() {
                        let given = hex::encode(key.to_bytes());
                        report.failures.push(if certificate.public_key != given {
                            format!(
                                "signature: the certificate was signed by another key ({}), not the public key \
                                 given ({given})",
                                certificate.public_key
                            )
                        } else {
                            "signature: does not verify with the public key given: the certificate was changed \
                             after it was signed"
                                .to_owned()
                        });
                    }
                }
            }
        }
    }

    let through: chrono::NaiveDate = match certificate.through.parse() {
        Ok(through) => through,
        Err(_) => {
            report.failures.push(format!("certificate: through {:?} is not a date", certificate.through));
            return Ok(report);
        }
    };
    // The trial balance of the period: every line dated on or before `through`.
    let mut rows: BTreeMap<AccountCode, (Total, Total)> = BTreeMap::new();
    let mut hashes: BTreeMap<u64, &str> = BTreeMap::new();
    let (mut total_debit, mut total_credit) = (Total::ZERO, Total::ZERO);
    for line in &lines {
        if line.date > through {
            report.later_lines += 1;
            continue;
        }
        report.lines += 1;
        if line.position > certificate.last_position {
            report.failures.push(format!(
                "export: row {} (position {}) is dated in the period but after the certificate's last position {}",
                line.row, line.position, certificate.last_position
            ));
        }
        if line.event_hash.len() != 64 || !line.event_hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            report.failures.push(format!("export: row {} has no event hash (64 hex digits)", line.row));
        }
        match hashes.insert(line.position, &line.event_hash) {
            Some(earlier) if earlier != line.event_hash => report.failures.push(format!(
                "export: row {} gives position {} another event hash than the rows before it",
                line.row, line.position
            )),
            _ => {}
        }
        let too_large = || format!("export: the totals pass {} at row {}", ledger_core::money::TOTAL_MAX, line.row);
        let row = rows.entry(line.account.clone()).or_insert((Total::ZERO, Total::ZERO));
        let sums = (
            row.0.checked_add(line.debit),
            row.1.checked_add(line.credit),
            total_debit.checked_add(line.debit),
            total_credit.checked_add(line.credit),
        );
        let (Ok(debit), Ok(credit), Ok(all_debit), Ok(all_credit)) = sums else {
            report.failures.push(too_large());
            return Ok(report);
        };
        *row = (debit, credit);
        (total_debit, total_credit) = (all_debit, all_credit);
    }
    report.events = hashes.len();
    let rows: Vec<TrialBalanceRow> =
        rows.into_iter().map(|(code, (debit, credit))| TrialBalanceRow { code, debit, credit }).collect();
    report.trial_balance_hash = trial_balance_hash(&rows);
    report.total_debit = total_debit.to_string();
    report.total_credit = total_credit.to_string();
    if report.total_debit != certificate.total_debit || report.total_credit != certificate.total_credit {
        report.failures.push(format!(
            "trial balance: the export's {} lines through {through} total debit {}, credit {}; the certificate says \
             debit {}, credit {}",
            report.lines, report.total_debit, report.total_credit, certificate.total_debit, certificate.total_credit
        ));
    }
    if report.trial_balance_hash != certificate.trial_balance_hash {
        report.failures.push(format!(
            "trial balance hash: the export's lines through {through} hash to {}, the certificate says {} (an \
             amount, account or date changed, a line added or dropped, or an export that does not start at the \
             book's first day)",
            report.trial_balance_hash, certificate.trial_balance_hash
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_read_quotes_commas_and_line_breaks() {
        let text = "a,b,c\n1,\"x, \"\"y\"\"\nz\",3\r\n\n";
        let records = csv_records(text).expect("reads");
        assert_eq!(records, vec![vec!["a", "b", "c"], vec!["1", "x, \"y\"\nz", "3"], vec![""]]);
        assert!(csv_records("a,\"b\n").is_err());
    }

    #[test]
    fn a_key_signs_what_its_public_key_verifies() {
        let key = AuditKey::from_seed([7; 32]);
        let verifying = read_public_key(&key.public_key()).expect("hex");
        let signature = key.signing.sign(b"text");
        assert!(verifying.verify(b"text", &signature).is_ok());
        let json = serde_json::to_string(&PublicKeyBody { algorithm: ALGORITHM.into(), public_key: key.public_key() });
        assert_eq!(read_public_key(&json.expect("json")).expect("json").to_bytes(), verifying.to_bytes());
        assert!(read_public_key("00").is_err());
    }

    #[test]
    fn the_key_file_is_made_once_and_kept_0600() {
        let directory = tempfile::tempdir().expect("a directory");
        let first = AuditKey::open_or_create_file(directory.path()).expect("made");
        let again = AuditKey::open_or_create_file(directory.path()).expect("read");
        assert_eq!(first.public_key(), again.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(directory.path().join(AUDIT_KEY_FILE)).expect("there").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(directory.path().join(AUDIT_KEY_FILE), "not hex").expect("written");
        assert!(matches!(AuditKey::open_or_create_file(directory.path()), Err(AuditKeyError::Corrupt(_))));
    }
}
