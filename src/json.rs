//! The JSON convention for everything facegate prints or writes as JSON (command output, access
//! reports, export manifests, certificates): every float rounded to [`DECIMALS`] places, in this
//! one place, so similarities, scores, boxes and timings read alike everywhere.

use serde::Serialize;
use serde_json::Value;

/// Decimal places of every float in JSON.
pub const DECIMALS: i32 = 4;

/// `value` as JSON, its floats rounded.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Value> {
    let mut v = serde_json::to_value(value)?;
    round_floats(&mut v);
    Ok(v)
}

/// `value` as pretty-printed JSON, its floats rounded.
pub fn to_vec_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec_pretty(&to_value(value)?)
}

fn round_floats(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            let scale = 10f64.powi(DECIMALS);
            if let Some(r) = n.as_f64().map(|x| (x * scale).round() / scale).and_then(serde_json::Number::from_f64) {
                *n = r;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(round_floats),
        Value::Object(map) => map.values_mut().for_each(round_floats),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn floats_are_rounded_alike_and_integers_kept() {
        let v = super::to_value(&serde_json::json!({ "similarity": 0.935_000_002_384_185_8_f64, "n": 3, "list": [{ "score": 0.123_456 }] })).unwrap();
        assert_eq!(v, serde_json::json!({ "similarity": 0.935, "n": 3, "list": [{ "score": 0.1235 }] }));
    }
}
