//! The codec of every `valv.v1` service: prost's, except that a message that does not decode
//! is the sender's error — INVALID_ARGUMENT naming the field and the rule (`identifiers: must be
//! valid UTF-8`) instead of tonic-prost's INTERNAL. prost's description never holds message
//! data, so the answer echoes nothing the caller sent.

use tonic::{
    Code, Status,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder},
};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// The codec (`codec_path` in `build.rs`).
#[derive(Debug, Clone, Default)]
pub struct ValvCodec<T, U>(ProstCodec<T, U>);

impl<T, U> Codec for ValvCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ValvDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        ValvDecoder(self.0.decoder())
    }
}

/// prost's decoder with [`undecodable`] applied to its errors.
#[derive(Debug)]
pub struct ValvDecoder<U>(ProstDecoder<U>);

impl<U: prost::Message + Default> Decoder for ValvDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|s| undecodable(&s).unwrap_or(s))
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}

/// What tonic-prost prefixes to prost's description of a message that did not decode.
const UNDECODABLE: &str = "failed to decode Protobuf message: ";

/// tonic-prost's INTERNAL answer for a message that did not decode (`Msg.field: … description`,
/// innermost first) as INVALID_ARGUMENT naming the field path and the rule; `None` for any
/// other status.
pub fn undecodable(status: &Status) -> Option<Status> {
    if status.code() != Code::Internal {
        return None;
    }
    let mut rest = status.message().strip_prefix(UNDECODABLE)?;
    let mut fields = Vec::new();
    while let Some((head, tail)) = rest.split_once(": ") {
        let Some((_, field)) = head.rsplit_once('.').filter(|_| !head.contains(' ')) else {
            break;
        };
        fields.push(field);
        rest = tail;
    }
    fields.reverse();
    let field = if fields.is_empty() {
        "request".to_owned()
    } else {
        fields.join(".")
    };
    let rule = if rest.contains("UTF-8") {
        "must be valid UTF-8".to_owned()
    } else {
        format!("not a valid message ({rest})")
    };
    Some(Status::invalid_argument(format!("{field}: {rule}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_that_does_not_decode_names_its_field() {
        let utf8 = Status::internal(
            "failed to decode Protobuf message: PseudonymiseRequest.identifiers: invalid string value: data is not UTF-8 encoded",
        );
        let fixed = undecodable(&utf8).unwrap();
        assert_eq!(fixed.code(), Code::InvalidArgument);
        assert_eq!(fixed.message(), "identifiers: must be valid UTF-8");
        let nested = Status::internal(
            "failed to decode Protobuf message: RecordField.path: DefineRecordPolicyRequest.fields: invalid wire type: LengthDelimited (expected Varint)",
        );
        assert_eq!(
            undecodable(&nested).unwrap().message(),
            "fields.path: not a valid message (invalid wire type: LengthDelimited (expected Varint))"
        );
        let bare = Status::internal("failed to decode Protobuf message: buffer underflow");
        assert_eq!(
            undecodable(&bare).unwrap().message(),
            "request: not a valid message (buffer underflow)"
        );
        assert!(undecodable(&Status::internal("internal error")).is_none());
        assert!(undecodable(&Status::not_found("failed to decode Protobuf message: x")).is_none());
    }

    #[test]
    fn prosts_own_description_of_bad_utf8_maps_to_the_field() {
        // A string field (tag 1, length 2) holding 0xff 0xfe.
        let bytes = [0x0a, 0x02, 0xff, 0xfe];
        let err = <crate::v1::RevokePrincipalRequest as prost::Message>::decode(&bytes[..]);
        assert!(err.is_err(), "the fixture must not decode");
        let status = undecodable(&Status::internal(err.unwrap_err().to_string())).unwrap();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "id: must be valid UTF-8");
    }
}
