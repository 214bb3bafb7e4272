//! The App Services globals and the Node subset JavaScript functions get: `utils.crypto`,
//! `utils.jwt`, `Buffer`, `crypto`, `TextEncoder`/`TextDecoder`, timers; and the clear refusals
//! of what Expanse does not offer (`require`; `context.http` without allowed hosts, see
//! js_http.rs).

use std::sync::Arc;
use std::time::Duration;

use bson::{bson, Bson};
use expanse::functions::Functions;
use expanse::store::MemoryStore;
use expanse::{App, User};

use crate::common::apps::write_app;

fn run_source(source: &str) -> (tempfile::TempDir, Functions<MemoryStore>) {
    let dir = write_app(&[
        ("root_config.json", "{}"),
        ("functions/config.json", r#"[{"name": "f"}]"#),
        ("functions/f.js", source),
    ]);
    let app = Arc::new(App::load(dir.path()).unwrap().app);
    let f = Functions::builder(app, MemoryStore::new())
        .time_limit(Duration::from_secs(5))
        .build()
        .unwrap()
        .0;
    (dir, f)
}

async fn call(source: &str) -> Result<Bson, String> {
    let (_dir, f) = run_source(source);
    f.call(&User::new("alice"), "f", vec![], None)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn utils_crypto_hashes_hmacs_and_encrypts() {
    let out = call(
        r#"exports = () => ({
          md5: utils.crypto.hash("md5", "abc").toString("hex"),
          sha1: utils.crypto.hash("sha1", "abc").toString("hex"),
          sha256: utils.crypto.hash("sha256", "abc").toString("hex"),
          hmac: utils.crypto.hmac("what do ya want for nothing?", "Jefe", "sha256", "hex"),
          hmac64: utils.crypto.hmac("abc", "key", "sha1", "base64"),
          roundTrip: (() => {
            const key = "0123456789abcdef0123456789abcdef";
            const sealed = utils.crypto.encrypt("aes", "secret text", key);
            return [sealed instanceof BSON.Binary, Buffer.from(utils.crypto.decrypt("aes", sealed, key).buffer).toString()];
          })(),
        })"#,
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        bson!({
            "md5": "900150983cd24fb0d6963f7d28e17f72",
            "sha1": "a9993e364706816aba3e25717850c26c9cd0d89d",
            "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "hmac": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            "hmac64": "T9CyFSdu8S8rPkyOysKBFJi2Vvw=",
            "roundTrip": [true, "secret text"],
        })
    );
}

#[tokio::test]
async fn utils_jwt_encodes_and_decodes() {
    let out = call(
        r#"exports = () => {
          const token = utils.jwt.encode("HS256", { sub: "u1", n: 1 }, "s3cret", { kid: "k" });
          const both = utils.jwt.decode(token, "s3cret", true);
          let wrongKey = null;
          try { utils.jwt.decode(token, "other"); } catch (e) { wrongKey = e.message; }
          return { parts: token.split(".").length, payload: utils.jwt.decode(token, "s3cret"), kid: both.header.kid, alg: both.header.alg, wrongKey };
        }"#,
    )
    .await
    .unwrap();
    let out = out.as_document().unwrap();
    assert_eq!(out.get("parts"), Some(&bson!(3)));
    assert_eq!(out.get("payload"), Some(&bson!({"sub": "u1", "n": 1})));
    assert_eq!(out.get("kid"), Some(&bson!("k")));
    assert_eq!(out.get("alg"), Some(&bson!("HS256")));
    assert!(out
        .get_str("wrongKey")
        .unwrap()
        .contains("signature does not match"));
}

#[tokio::test]
async fn buffer_text_coding_and_node_crypto() {
    let out = call(
        r#"exports = () => {
          const b = Buffer.from("héllo ✓");
          const uuid = crypto.randomUUID();
          return {
            hex: b.toString("hex"),
            base64: b.toString("base64"),
            back: Buffer.from(b.toString("base64"), "base64").toString("utf8"),
            fromHex: Buffer.from("68656c6c6f", "hex").toString(),
            encoded: Array.from(new TextEncoder().encode("✓")),
            decoded: new TextDecoder().decode(new Uint8Array([0xe2, 0x9c, 0x93])),
            uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuid),
            random: crypto.randomBytes(8).length,
            sha256: crypto.createHash("sha256").update("abc").digest("hex"),
            isBuffer: Buffer.isBuffer(Buffer.alloc(2)),
            binary: Buffer.from("ab"),
          };
        }"#,
    )
    .await
    .unwrap();
    let out = out.as_document().unwrap();
    assert_eq!(out.get_str("hex").unwrap(), "68c3a96c6c6f20e29c93");
    assert_eq!(out.get_str("base64").unwrap(), "aMOpbGxvIOKckw==");
    assert_eq!(out.get_str("back").unwrap(), "héllo ✓");
    assert_eq!(out.get_str("fromHex").unwrap(), "hello");
    assert_eq!(out.get("encoded"), Some(&bson!([0xe2, 0x9c, 0x93])));
    assert_eq!(out.get_str("decoded").unwrap(), "✓");
    assert_eq!(out.get("uuid"), Some(&bson!(true)));
    assert_eq!(out.get("random"), Some(&bson!(8)));
    assert_eq!(
        out.get_str("sha256").unwrap(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(out.get("isBuffer"), Some(&bson!(true)));
    // A Buffer crosses as BSON binary.
    assert_eq!(
        out.get("binary"),
        Some(&Bson::Binary(bson::Binary {
            subtype: bson::spec::BinarySubtype::Generic,
            bytes: b"ab".to_vec()
        }))
    );
}

#[tokio::test]
async fn timers_run_before_the_call_ends() {
    let out = call(
        r#"exports = () => new Promise((resolve) => {
          const order = [];
          setTimeout(() => { order.push("late"); resolve(order); }, 30);
          setTimeout(() => order.push("soon"), 5);
          const cancelled = setTimeout(() => order.push("cancelled"), 1);
          clearTimeout(cancelled);
          setImmediate(() => order.push("now"));
        })"#,
    )
    .await
    .unwrap();
    assert_eq!(out, bson!(["now", "soon", "late"]));
}

#[tokio::test]
async fn what_expanse_does_not_offer_is_refused_by_name() {
    let err = call(r#"exports = () => context.http.get({ url: "https://example.com" });"#)
        .await
        .unwrap_err();
    assert!(err.contains("context.http is disabled"), "{err}");
    // No module loader: the sandbox has no host access (tests/it/security/refused.rs).
    let err = call(r#"exports = () => require("fs");"#).await.unwrap_err();
    assert!(err.contains("require is not defined"), "{err}");
    let err = call(r#"exports = () => utils.crypto.encrypt("des", "x", "k");"#)
        .await
        .unwrap_err();
    assert!(err.contains(r#"encryption type "des""#), "{err}");
    let err = call(r#"exports = () => utils.crypto.hash("sha3", "x");"#)
        .await
        .unwrap_err();
    assert!(err.contains("sha3"), "{err}");
    let err = call(r#"exports = () => utils.jwt.encode("none", {}, "k");"#)
        .await
        .unwrap_err();
    assert!(
        err.contains("signing method") && err.contains("none"),
        "{err}"
    );
    let err = call(r#"exports = () => setInterval(() => {}, 1);"#)
        .await
        .unwrap_err();
    assert!(err.contains("setInterval"), "{err}");
}
