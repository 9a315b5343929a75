//! Cross-signing: uploading master, self-signing and user-signing keys, uploading signatures
//! made with them, and `/keys/query` serving both.

use axum::http::StatusCode;
use dag::signing::{ServerKey, sign_json};
use serde_json::{Map, Value, json};

use crate::support::{PASSWORD, Session, TestNode, assert_error};

const DEVICE_SIGNING: &str = "/_matrix/client/v3/keys/device_signing/upload";
const SIGNATURES: &str = "/_matrix/client/v3/keys/signatures/upload";
const QUERY: &str = "/_matrix/client/v3/keys/query";

/// An ed25519 key of `user_id` named after its public part, as cross-signing keys are.
struct Key {
    user_id: String,
    public: String,
    seed: [u8; 32],
}

impl Key {
    fn new(user_id: &str, seed_byte: u8) -> Key {
        let seed = [seed_byte; 32];
        let public = dag::base64::encode(
            ServerKey::from_seed(user_id, "ed25519:x", &seed)
                .verifying_key()
                .as_bytes(),
        );
        Key {
            user_id: user_id.to_owned(),
            public,
            seed,
        }
    }

    /// Adds this key's signature to `object`, under `ed25519:<name>`.
    fn sign_as(&self, name: &str, object: &mut Value) {
        let signer = ServerKey::from_seed(&self.user_id, format!("ed25519:{name}"), &self.seed);
        sign_json(object.as_object_mut().unwrap(), &signer).unwrap();
    }

    fn sign(&self, object: &mut Value) {
        self.sign_as(&self.public.clone(), object);
    }

    /// The key object of `usage`, signed by `master` unless it is the master key itself.
    fn object(&self, usage: &str, master: Option<&Key>) -> Value {
        let mut object = json!({
            "user_id": self.user_id,
            "usage": [usage],
            "keys": { format!("ed25519:{}", self.public): self.public },
        });
        if let Some(master) = master {
            master.sign(&mut object);
        }
        object
    }
}

/// A user's three cross-signing keys.
struct CrossSigning {
    master: Key,
    self_signing: Key,
    user_signing: Key,
}

impl CrossSigning {
    fn new(user_id: &str, seed: u8) -> CrossSigning {
        CrossSigning {
            master: Key::new(user_id, seed),
            self_signing: Key::new(user_id, seed + 1),
            user_signing: Key::new(user_id, seed + 2),
        }
    }

    fn upload_body(&self) -> Value {
        json!({
            "master_key": self.master.object("master", None),
            "self_signing_key": self.self_signing.object("self_signing", Some(&self.master)),
            "user_signing_key": self.user_signing.object("user_signing", Some(&self.master)),
        })
    }
}

/// Uploads device keys of the session's device, signed by the device's own ed25519 key.
async fn upload_device_keys(node: &TestNode, session: &Session, seed: u8) -> (Key, Value) {
    let device_key = Key::new(&session.user_id, seed);
    let mut keys = json!({
        "user_id": session.user_id,
        "device_id": session.device_id,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {
            format!("curve25519:{}", session.device_id): "curve",
            format!("ed25519:{}", session.device_id): device_key.public,
        },
    });
    device_key.sign_as(&session.device_id, &mut keys);
    let response = node
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&session.token),
            json!({ "device_keys": keys }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    (device_key, keys)
}

async fn query(node: &TestNode, session: &Session, user_ids: &[&str]) -> Value {
    let wanted: Map<String, Value> = user_ids
        .iter()
        .map(|user_id| (user_id.to_string(), json!([])))
        .collect();
    let response = node
        .post(
            QUERY,
            Some(&session.token),
            json!({ "device_keys": wanted }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body
}

#[tokio::test]
async fn first_upload_needs_no_password_and_query_shows_the_keys() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let keys = CrossSigning::new(&alice.user_id, 1);
    let response = node
        .post(DEVICE_SIGNING, Some(&alice.token), keys.upload_body())
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);

    let own = query(&node, &alice, &[&alice.user_id]).await;
    let uploaded = keys.upload_body();
    assert_eq!(own["master_keys"][&alice.user_id], uploaded["master_key"]);
    assert_eq!(
        own["self_signing_keys"][&alice.user_id],
        uploaded["self_signing_key"]
    );
    assert_eq!(
        own["user_signing_keys"][&alice.user_id],
        uploaded["user_signing_key"]
    );
    // Others see the master and self-signing keys, never whom Alice trusts.
    let seen_by_bob = query(&node, &bob, &[&alice.user_id]).await;
    assert_eq!(
        seen_by_bob["master_keys"][&alice.user_id],
        uploaded["master_key"]
    );
    assert!(seen_by_bob["self_signing_keys"][&alice.user_id].is_object());
    assert_eq!(seen_by_bob["user_signing_keys"], json!({}));
}

#[tokio::test]
async fn replacing_keys_needs_the_password_but_repeating_them_does_not() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let keys = CrossSigning::new(&alice.user_id, 1);
    let first = node
        .post(DEVICE_SIGNING, Some(&alice.token), keys.upload_body())
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let again = node
        .post(DEVICE_SIGNING, Some(&alice.token), keys.upload_body())
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);

    let replacement = CrossSigning::new(&alice.user_id, 10).upload_body();
    let challenged = node
        .post(DEVICE_SIGNING, Some(&alice.token), replacement.clone())
        .await;
    assert_eq!(challenged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenged.body["flows"],
        json!([{ "stages": ["m.login.password"] }])
    );
    let mut wrong_password = replacement.clone();
    wrong_password["auth"] = json!({
        "type": "m.login.password",
        "identifier": { "type": "m.id.user", "user": alice.user_id },
        "password": "not the password",
        "session": challenged.body["session"],
    });
    let refused = node
        .post(DEVICE_SIGNING, Some(&alice.token), wrong_password)
        .await;
    assert_error(&refused, StatusCode::UNAUTHORIZED, "M_FORBIDDEN");
    let mut authenticated = replacement.clone();
    authenticated["auth"] = json!({
        "type": "m.login.password",
        "identifier": { "type": "m.id.user", "user": alice.user_id },
        "password": PASSWORD,
        "session": challenged.body["session"],
    });
    let replaced = node
        .post(DEVICE_SIGNING, Some(&alice.token), authenticated)
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    let own = query(&node, &alice, &[&alice.user_id]).await;
    assert_eq!(
        own["master_keys"][&alice.user_id],
        replacement["master_key"]
    );
}

#[tokio::test]
async fn malformed_or_unsigned_keys_are_refused() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let keys = CrossSigning::new(&alice.user_id, 1);
    let upload = |body: Value| node.post(DEVICE_SIGNING, Some(&alice.token), body);

    let mut of_bob = keys.upload_body();
    of_bob["master_key"]["user_id"] = json!(bob.user_id);
    assert_error(
        &upload(of_bob).await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );

    let mut wrong_usage = keys.upload_body();
    wrong_usage["master_key"]["usage"] = json!(["self_signing"]);
    assert_error(
        &upload(wrong_usage).await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );

    let mut two_keys = keys.upload_body();
    two_keys["master_key"]["keys"]["ed25519:other"] = json!("other");
    assert_error(
        &upload(two_keys).await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );

    let mut unsigned = keys.upload_body();
    unsigned["self_signing_key"] = keys.self_signing.object("self_signing", None);
    assert_error(
        &upload(unsigned).await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_SIGNATURE",
    );

    let without_master = json!({
        "self_signing_key": keys.self_signing.object("self_signing", Some(&keys.master)),
    });
    assert_error(
        &upload(without_master).await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    let not_json = node
        .post(DEVICE_SIGNING, Some(&alice.token), json!({"master_key": 3}))
        .await;
    assert_error(&not_json, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    assert_eq!(
        query(&node, &alice, &[&alice.user_id]).await["master_keys"],
        json!({})
    );
}

#[tokio::test]
async fn signatures_by_the_right_keys_are_kept_and_others_fail() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let (device_key, published) = upload_device_keys(&node, &alice, 20).await;
    let mut device_keys = published.clone();
    let alices = CrossSigning::new(&alice.user_id, 1);
    let bobs = CrossSigning::new(&bob.user_id, 30);
    for (session, keys) in [(&alice, &alices), (&bob, &bobs)] {
        let response = node
            .post(DEVICE_SIGNING, Some(&session.token), keys.upload_body())
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    }
    // Alice's self-signing key signs her device; her device signs her master key; her
    // user-signing key signs Bob's master key.
    alices.self_signing.sign(&mut device_keys);
    let mut master = alices.master.object("master", None);
    device_key.sign_as(&alice.device_id, &mut master);
    let mut bobs_master = bobs.master.object("master", None);
    alices.user_signing.sign(&mut bobs_master);
    let response = node
        .post(
            SIGNATURES,
            Some(&alice.token),
            json!({
                alice.user_id.clone(): {
                    alice.device_id.clone(): device_keys,
                    alices.master.public.clone(): master,
                },
                bob.user_id.clone(): { bobs.master.public.clone(): bobs_master },
            }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["failures"], json!({}));

    let seen = query(&node, &bob, &[&alice.user_id, &bob.user_id]).await;
    let signatures = &seen["device_keys"][&alice.user_id][&alice.device_id]["signatures"];
    assert!(
        signatures[&alice.user_id][format!("ed25519:{}", alices.self_signing.public)].is_string()
    );
    assert!(signatures[&alice.user_id][format!("ed25519:{}", alice.device_id)].is_string());
    let master_signatures = &seen["master_keys"][&alice.user_id]["signatures"][&alice.user_id];
    assert!(master_signatures[format!("ed25519:{}", alice.device_id)].is_string());
    let bobs_signatures = &seen["master_keys"][&bob.user_id]["signatures"][&alice.user_id];
    assert!(bobs_signatures[format!("ed25519:{}", alices.user_signing.public)].is_string());

    // A client uploading its unchanged device keys again keeps the cross-signature.
    let response = node
        .post(
            "/_matrix/client/v3/keys/upload",
            Some(&alice.token),
            json!({ "device_keys": published }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let again = query(&node, &bob, &[&alice.user_id]).await;
    let signatures = &again["device_keys"][&alice.user_id][&alice.device_id]["signatures"];
    assert!(
        signatures[&alice.user_id][format!("ed25519:{}", alices.self_signing.public)].is_string()
    );

    // Bob cannot sign Alice's device, a forged signature is refused, and unknown keys fail.
    let mut alices_device = published.clone();
    bobs.self_signing.sign(&mut alices_device);
    let mut forged = bobs.master.object("master", None);
    forged["signatures"] = json!({
        alice.user_id.clone(): { format!("ed25519:{}", alices.user_signing.public): "AAAA" },
    });
    let response = node
        .post(
            SIGNATURES,
            Some(&bob.token),
            json!({
                alice.user_id.clone(): {
                    alice.device_id.clone(): alices_device,
                    "NOSUCHDEVICE": {},
                },
            }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let failures = &response.body["failures"][&alice.user_id];
    assert_eq!(failures[&alice.device_id]["errcode"], "M_INVALID_SIGNATURE");
    assert_eq!(failures["NOSUCHDEVICE"]["errcode"], "M_NOT_FOUND");
    let response = node
        .post(
            SIGNATURES,
            Some(&alice.token),
            json!({ bob.user_id.clone(): { bobs.master.public.clone(): forged } }),
        )
        .await;
    assert_eq!(
        response.body["failures"][&bob.user_id][&bobs.master.public]["errcode"],
        "M_INVALID_SIGNATURE"
    );
}

#[tokio::test]
async fn a_signed_object_must_be_the_published_key() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let (_, mut device_keys) = upload_device_keys(&node, &alice, 20).await;
    let alices = CrossSigning::new(&alice.user_id, 1);
    let response = node
        .post(DEVICE_SIGNING, Some(&alice.token), alices.upload_body())
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    device_keys["algorithms"] = json!(["m.olm.v1.curve25519-aes-sha2"]);
    alices.self_signing.sign(&mut device_keys);
    let response = node
        .post(
            SIGNATURES,
            Some(&alice.token),
            json!({ alice.user_id.clone(): { alice.device_id.clone(): device_keys } }),
        )
        .await;
    assert_eq!(
        response.body["failures"][&alice.user_id][&alice.device_id]["errcode"],
        "M_INVALID_PARAM"
    );
}

#[tokio::test]
async fn signatures_on_keys_of_other_nodes_fail() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let elsewhere = "@carol:elsewhere.example";
    let response = node
        .post(
            SIGNATURES,
            Some(&alice.token),
            json!({ elsewhere: { "MASTERKEY": { "user_id": elsewhere } } }),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(
        response.body["failures"][elsewhere]["MASTERKEY"]["errcode"],
        "M_NOT_FOUND"
    );
    let not_json = node
        .post(SIGNATURES, Some(&alice.token), json!({ elsewhere: [] }))
        .await;
    assert_error(&not_json, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    let anonymous = node.post(SIGNATURES, None, json!({})).await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
}
