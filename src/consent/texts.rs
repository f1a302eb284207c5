//! The words the data subject reads, per language: the consent request message and the public
//! consent pages. They come from `templates/texts/LANG.toml` (English, Dutch and German so far),
//! built into the binary; `{name}` marks in them are filled with [`fill`]. A language is added
//! by adding a file and a line to [`LANGUAGES`]; a test checks every file has every text.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Language code and its texts (TOML), in the order a form offers them.
pub const LANGUAGES: &[(&str, &str)] = &[
    ("en", include_str!("../../templates/texts/en.toml")),
    ("nl", include_str!("../../templates/texts/nl.toml")),
    ("de", include_str!("../../templates/texts/de.toml")),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    #[serde(skip)]
    pub code: &'static str,
    pub language_name: String,
    pub mail: MailTexts,
    pub page: PageTexts,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailTexts {
    pub subject: String,
    pub greeting: String,
    pub greeting_unnamed: String,
    pub body: String,
    pub signature: String,
}

/// The public pages' texts; askama reads them by field name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageTexts {
    pub title: String,
    pub intro: String,
    pub purposes: String,
    pub period: String,
    pub period_offered: String,
    pub period_choice: String,
    pub months: String,
    pub photos: String,
    pub your_name: String,
    pub confirm: String,
    pub send: String,
    pub refuse: String,
    pub withdraw_note: String,
    pub contact: String,
    pub thanks: String,
    pub agreed: String,
    pub refused: String,
    pub keep_link: String,
    pub withdraw_title: String,
    pub withdraw_intro: String,
    pub withdraw_send: String,
    pub withdrawn: String,
    pub used_title: String,
    pub used: String,
    pub expired_title: String,
    pub expired: String,
    pub unknown_title: String,
    pub unknown: String,
    pub fix_title: String,
    pub need_name: String,
    pub need_confirm: String,
    pub bad_period: String,
    pub bad_purpose: String,
    pub nothing_chosen: String,
    pub too_many: String,
}

fn all() -> &'static BTreeMap<&'static str, Texts> {
    static ALL: OnceLock<BTreeMap<&'static str, Texts>> = OnceLock::new();
    ALL.get_or_init(|| {
        LANGUAGES
            .iter()
            .map(|(code, toml_text)| {
                let mut t: Texts = toml::from_str(toml_text).unwrap_or_else(|e| panic!("templates/texts/{code}.toml: {e}"));
                t.code = code;
                (*code, t)
            })
            .collect()
    })
}

/// The texts of language `code` (`en`, `nl`, `de`).
pub fn texts(code: &str) -> Result<&'static Texts> {
    let code = code.trim().to_lowercase();
    all().get(code.as_str()).ok_or_else(|| {
        let known: Vec<&str> = LANGUAGES.iter().map(|(c, _)| *c).collect();
        Error::Invalid(format!("unknown language {code:?} (known: {})", known.join(", ")))
    })
}

/// `text` with each `{key}` replaced by its value. Unknown marks stay as they are.
pub fn fill(text: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(text.to_string(), |out, (key, value)| out.replace(&format!("{{{key}}}"), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_text_and_its_marks() {
        for (code, _) in LANGUAGES {
            let t = texts(code).unwrap();
            for mark in ["{organisation}", "{purposes}", "{months}", "{answer_link}", "{withdraw_link}", "{expires}"] {
                assert!(t.mail.body.contains(mark), "{code}: the message body lacks {mark}");
            }
            assert!(t.page.bad_period.contains("{months}") && t.page.agreed.contains("{until}"), "{code}");
        }
        assert!(texts("xx").is_err());
        assert_eq!(fill("a {x} b {y}", &[("x", "1"), ("y", "2")]), "a 1 b 2");
    }
}
