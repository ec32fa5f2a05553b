//! Unicode NFKC, the one normalisation the rules apply. Natively the `unicode-normalization`
//! crate; in the extension's wasm build the browser's own `String.prototype.normalize`, which
//! keeps some 120 KB of tables out of the module the pages load. Unicode's normalisation
//! stability policy makes the two agree on every character both versions assign (they may
//! differ only on one newer than the browser's Unicode, where the portal, native, decides);
//! the shared vector file (`wasm/vectors/rules.json`) is checked against both builds.

#[cfg(not(target_arch = "wasm32"))]
pub fn nfkc(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfkc().collect()
}

#[cfg(target_arch = "wasm32")]
pub fn nfkc(text: &str) -> String {
    String::from(js_sys::JsString::from(text).normalize("NFKC"))
}
