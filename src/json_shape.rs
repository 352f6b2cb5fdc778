//! How Rust shapes appear in gpugate's JSON, which is a documented
//! contract: a `Result` as `{"value": ...}` or `{"error": "..."}` (not serde's
//! `{"Ok": ...}`), and name/value pairs as an object in their order (not
//! `[["name", value]]` arrays).

/// `Result<T, String>` as `{"value": T}` or `{"error": "why"}`.
pub mod result {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Shape<T> {
        Value(T),
        Error(String),
    }

    pub fn serialize<T: Serialize, S: Serializer>(
        result: &Result<T, String>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match result {
            Ok(value) => Shape::Value(value),
            Err(error) => Shape::Error(error.clone()),
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Result<T, String>, D::Error> {
        Ok(match Shape::deserialize(deserializer)? {
            Shape::Value(value) => Ok(value),
            Shape::Error(error) => Err(error),
        })
    }
}

/// `Option<Result<T, String>>`: absent as `null`, else as [`result`].
pub mod option_result {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    struct Wrap<'a, T: Serialize>(#[serde(with = "super::result")] &'a Result<T, String>);

    #[derive(Deserialize)]
    #[serde(bound = "T: Deserialize<'de>")]
    struct Owned<T>(#[serde(with = "super::result")] Result<T, String>);

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Result<T, String>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_ref().map(Wrap).serialize(serializer)
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Result<T, String>>, D::Error> {
        Ok(Option::<Owned<T>>::deserialize(deserializer)?.map(|o| o.0))
    }
}

/// `Vec<(String, V)>` as a JSON object, in order.
pub mod pairs {
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<V: Serialize, S: Serializer>(
        pairs: &[(String, V)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(pairs.len()))?;
        for (name, value) in pairs {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }

    /// Reads the object back in its order (a map type would sort it).
    pub fn deserialize<'de, V: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<(String, V)>, D::Error> {
        struct InOrder<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for InOrder<V> {
            type Value = Vec<(String, V)>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    pairs.push(entry);
                }
                Ok(pairs)
            }
        }
        deserializer.deserialize_map(InOrder(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Sample {
        #[serde(with = "super::result")]
        nvidia: Result<u32, String>,
        #[serde(with = "super::option_result")]
        devices: Option<Result<Vec<u32>, String>>,
        #[serde(with = "super::pairs")]
        env: Vec<(String, Option<String>)>,
    }

    #[test]
    fn shapes_are_plain_json_and_round_trip() {
        let sample = Sample {
            nvidia: Err("no driver".into()),
            devices: Some(Ok(vec![1])),
            env: vec![("Z".into(), Some("last".into())), ("A".into(), None)],
        };
        let json = serde_json::to_string(&sample).unwrap();
        assert_eq!(
            json,
            r#"{"nvidia":{"error":"no driver"},"devices":{"value":[1]},"env":{"Z":"last","A":null}}"#
        );
        assert_eq!(serde_json::from_str::<Sample>(&json).unwrap(), sample);
    }
}
