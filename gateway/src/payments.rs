//! Signed payment notifications in the style of Alipay's asynchronous notify: the channel posts
//! the trade's fields (form or JSON) with `sign_type=RSA2` and `sign`, the base64 RSA PKCS#1
//! v1.5 SHA-256 signature over the other non-empty fields sorted by name and joined as
//! `k=v&k=v`. Only a verified notification reaches the ledger.

use std::collections::BTreeMap;

use base64::Engine;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;

use crate::config::{ConfigError, PaymentChannel};

/// Fields a notification may carry (Alipay sends about 25).
pub const NOTIFICATION_FIELDS_MAX: usize = 64;
/// Trade statuses that mean the money arrived; any other is acknowledged and not booked.
pub const PAID_STATUSES: [&str; 2] = ["TRADE_SUCCESS", "TRADE_FINISHED"];

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("unknown payment channel")]
    UnknownChannel,
    #[error("missing field {0}")]
    Missing(&'static str),
    #[error("sign_type must be RSA2")]
    SignType,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("too many fields")]
    TooManyFields,
}

/// Parses every configured channel's PEM key (PKCS#8 `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`).
pub fn load_keys(channels: &BTreeMap<String, PaymentChannel>) -> Result<BTreeMap<String, RsaPublicKey>, ConfigError> {
    channels
        .iter()
        .map(|(name, channel)| {
            let pem = channel.public_key_pem.trim();
            RsaPublicKey::from_public_key_pem(pem)
                .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
                .map(|key| (name.clone(), key))
                .map_err(|source| ConfigError::PaymentKey { channel: name.clone(), source })
        })
        .collect()
}

/// The text the channel signed: non-empty fields but `sign` and `sign_type`, sorted, `k=v&…`.
pub fn signing_string(fields: &BTreeMap<String, String>) -> String {
    fields
        .iter()
        .filter(|(name, value)| name.as_str() != "sign" && name.as_str() != "sign_type" && !value.is_empty())
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Checks `sign_type` and the signature with the channel's key.
pub fn verify(key: &RsaPublicKey, fields: &BTreeMap<String, String>) -> Result<(), NotificationError> {
    if fields.len() > NOTIFICATION_FIELDS_MAX {
        return Err(NotificationError::TooManyFields);
    }
    if fields.get("sign_type").map(String::as_str) != Some("RSA2") {
        return Err(NotificationError::SignType);
    }
    let sign = fields.get("sign").ok_or(NotificationError::Missing("sign"))?;
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(sign.trim()).map_err(|_| NotificationError::BadSignature)?;
    let signature = Signature::try_from(bytes.as_slice()).map_err(|_| NotificationError::BadSignature)?;
    VerifyingKey::<sha2::Sha256>::new(key.clone())
        .verify(signing_string(fields).as_bytes(), &signature)
        .map_err(|_| NotificationError::BadSignature)
}

/// What a verified notification says.
#[derive(Debug, PartialEq, Eq)]
pub struct Notification {
    pub trade_number: String,
    pub out_trade_number: Option<String>,
    pub total_amount: String,
    /// The customer whose wallet is credited: `passback_params` as `<uuid>` or `customer_id=<uuid>`.
    pub customer_id: String,
    pub paid: bool,
}

pub fn read_notification(fields: &BTreeMap<String, String>) -> Result<Notification, NotificationError> {
    let field =
        |name: &'static str| fields.get(name).filter(|value| !value.is_empty()).ok_or(NotificationError::Missing(name));
    let passback = field("passback_params")?;
    let customer_id = passback.strip_prefix("customer_id=").unwrap_or(passback).to_owned();
    let paid = fields.get("trade_status").map_or(true, |status| PAID_STATUSES.contains(&status.as_str()));
    Ok(Notification {
        trade_number: field("trade_no")?.clone(),
        out_trade_number: fields.get("out_trade_no").cloned(),
        total_amount: field("total_amount")?.clone(),
        customer_id,
        paid,
    })
}

#[cfg(test)]
mod tests {
    use rsa::pkcs1v15::SigningKey;
    use rsa::signature::{SignatureEncoding, Signer};
    use rsa::RsaPrivateKey;

    use super::*;

    fn signed(private: &RsaPrivateKey, fields: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut map: BTreeMap<String, String> =
            fields.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        map.insert("sign_type".into(), "RSA2".into());
        let signature = SigningKey::<sha2::Sha256>::new(private.clone()).sign(signing_string(&map).as_bytes());
        map.insert("sign".into(), base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()));
        map
    }

    #[test]
    fn a_signed_notification_verifies_and_a_tampered_one_does_not() {
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let public = RsaPublicKey::from(&private);
        let fields = [("trade_no", "T1"), ("total_amount", "950.00"), ("passback_params", "x"), ("empty", "")];
        let mut map = signed(&private, &fields);
        assert_eq!(signing_string(&map), "passback_params=x&total_amount=950.00&trade_no=T1");
        assert_eq!(verify(&public, &map), Ok(()));
        map.insert("total_amount".into(), "9500.00".into());
        assert_eq!(verify(&public, &map), Err(NotificationError::BadSignature));
        map.insert("sign_type".into(), "RSA".into());
        assert_eq!(verify(&public, &map), Err(NotificationError::SignType));
    }

    #[test]
    fn a_channel_key_that_is_not_rsa_is_a_configuration_error_naming_the_channel() {
        let channels = BTreeMap::from([("alipay".to_owned(), PaymentChannel { public_key_pem: "not a key".into() })]);
        let error = load_keys(&channels).expect_err("not a PEM key");
        assert!(matches!(&error, ConfigError::PaymentKey { channel, .. } if channel == "alipay"), "{error:?}");
        assert!(error.to_string().starts_with("payment channel alipay: not an RSA public key: "), "{error}");
    }
}
