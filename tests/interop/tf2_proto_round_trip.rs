//! servegraph's protos cover every field TensorFlow writes in a TF2
//! SavedModel: each fixture's `saved_model.pb`, `keras_metadata.pb` and
//! `fingerprint.pb`, decoded with servegraph's types and encoded again,
//! parse in TensorFlow's own Python classes to messages equal to the
//! originals. A field our `.proto` files lack would be dropped by the round
//! trip and show up here.

use crate::common;

use std::path::Path;

use common::tf2;
use prost::Message;
use servegraph::proto::{FingerprintDef, SavedMetadata, SavedModel};

/// Decodes `original` as `M`, encodes it again into `dir`, and has
/// TensorFlow compare both; returns the comparison's verdict.
fn round_trip<M: Message + Default>(
    python: &Path,
    kind: &str,
    original: &Path,
    dir: &Path,
) -> String {
    let bytes = std::fs::read(original).unwrap();
    let message =
        M::decode(bytes.as_slice()).unwrap_or_else(|e| panic!("{}: {e}", original.display()));
    let reencoded = dir.join(format!("{kind}.pb"));
    std::fs::write(&reencoded, message.encode_to_vec()).unwrap();
    common::run_python(
        python,
        "tests/interop/compare_protos.py",
        &[kind.as_ref(), original.as_os_str(), reencoded.as_os_str()],
    )
    .trim()
    .to_string()
}

#[test]
fn tf2_saved_models_survive_decoding_and_encoding() {
    let Some(python) = common::tensorflow_python("tf2_saved_models_survive_decoding_and_encoding")
    else {
        return;
    };
    let fixtures = tf2::fixture_names();
    assert_eq!(fixtures.len(), 8, "{fixtures:?}");
    let mut metadata_files = 0;
    for fixture in fixtures {
        let source = tf2::saved_model(&fixture);
        let dir = tempfile::tempdir().unwrap();
        let verdict = round_trip::<SavedModel>(
            &python,
            "saved_model",
            &source.join("saved_model.pb"),
            dir.path(),
        );
        assert_eq!(verdict, "equal", "{fixture}: saved_model.pb");
        let fingerprint = source.join("fingerprint.pb");
        assert!(fingerprint.is_file(), "{fixture}");
        let verdict =
            round_trip::<FingerprintDef>(&python, "fingerprint", &fingerprint, dir.path());
        assert_eq!(verdict, "equal", "{fixture}: fingerprint.pb");
        let metadata = source.join("keras_metadata.pb");
        if metadata.is_file() {
            metadata_files += 1;
            let verdict =
                round_trip::<SavedMetadata>(&python, "saved_metadata", &metadata, dir.path());
            assert_eq!(verdict, "equal", "{fixture}: keras_metadata.pb");
        }
    }
    assert_eq!(
        metadata_files, 4,
        "the four Keras fixtures have keras_metadata.pb"
    );
}
