//! Signed payment notifications in the style of Alipay's asynchronous notify: the channel posts
//! the trade's fields (form or JSON) with `sign_type=RSA2` and `sign`, the base64 RSA PKCS#1
//! v1.5 SHA-256 signature over the other non-empty fields sorted by name and joined as
//! `k=v&k=v`. Only a verified notification of the channel's own merchant account (`app_id`,
//! `seller_id`) reaches the ledger, and there it must pay what its book expects
//! (`MoneyCommand::ConfirmOnlinePayment`).

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
    /// `app_id` or `seller_id` is not the configured channel's: another merchant's payment.
    #[error("{0} is not this channel's")]
    NotThisChannel(&'static str),
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
    /// What the payment is for: the id of the online recharge or order it pays.
    pub out_trade_number: String,
    pub total_amount: String,
    /// `trade_status` says the money arrived ([`PAID_STATUSES`]).
    pub paid: bool,
}

/// The fields of a verified notification of `channel`: `trade_no`, `out_trade_no`,
/// `total_amount` and `trade_status` are required, and `app_id` and `seller_id` must be the
/// channel's.
pub fn read_notification(
    channel: &PaymentChannel,
    fields: &BTreeMap<String, String>,
) -> Result<Notification, NotificationError> {
    let field =
        |name: &'static str| fields.get(name).filter(|value| !value.is_empty()).ok_or(NotificationError::Missing(name));
    if *field("app_id")? != channel.app_id {
        return Err(NotificationError::NotThisChannel("app_id"));
    }
    if *field("seller_id")? != channel.seller_id {
        return Err(NotificationError::NotThisChannel("seller_id"));
    }
    Ok(Notification {
        trade_number: field("trade_no")?.clone(),
        out_trade_number: field("out_trade_no")?.clone(),
        total_amount: field("total_amount")?.clone(),
        paid: PAID_STATUSES.contains(&field("trade_status")?.as_str()),
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
    fn a_notification_names_its_trade_its_payment_its_status_and_this_channels_merchant() {
        let channel = PaymentChannel {
            public_key_pem: String::new(),
            book: None,
            app_id: "2021000000000001".into(),
            seller_id: "2088000000000001".into(),
        };
        let fields = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
        };
        let full = [
            ("app_id", "2021000000000001"),
            ("seller_id", "2088000000000001"),
            ("trade_no", "T1"),
            ("out_trade_no", "P1"),
            ("total_amount", "950.00"),
            ("trade_status", "TRADE_SUCCESS"),
        ];
        let notification = read_notification(&channel, &fields(&full)).expect("a full notification");
        assert_eq!(
            notification,
            Notification {
                trade_number: "T1".into(),
                out_trade_number: "P1".into(),
                total_amount: "950.00".into(),
                paid: true
            }
        );
        let waiting =
            read_notification(&channel, &fields(&[&full[..5], &[("trade_status", "WAIT_BUYER_PAY")]].concat()));
        assert!(!waiting.expect("a waiting trade").paid);
        for (index, (name, _)) in full.iter().enumerate() {
            let without: Vec<(&str, &str)> =
                full.iter().enumerate().filter(|(other, _)| *other != index).map(|(_, pair)| *pair).collect();
            assert_eq!(read_notification(&channel, &fields(&without)), Err(NotificationError::Missing(*name)));
        }
        let mut other_app = full;
        other_app[0].1 = "2021000000000002";
        assert_eq!(read_notification(&channel, &fields(&other_app)), Err(NotificationError::NotThisChannel("app_id")));
        let mut other_seller = full;
        other_seller[1].1 = "2088000000000002";
        assert_eq!(
            read_notification(&channel, &fields(&other_seller)),
            Err(NotificationError::NotThisChannel("seller_id"))
        );
    }

    #[test]
    fn a_channel_key_that_is_not_rsa_is_a_configuration_error_naming_the_channel() {
        let channel = PaymentChannel { public_key_pem: "not a key".into(), ..PaymentChannel::default() };
        let channels = BTreeMap::from([("alipay".to_owned(), channel)]);
        let error = load_keys(&channels).expect_err("not a PEM key");
        assert!(matches!(&error, ConfigError::PaymentKey { channel, .. } if channel == "alipay"), "{error:?}");
        assert!(error.to_string().starts_with("payment channel alipay: not an RSA public key: "), "{error}");
    }
}
