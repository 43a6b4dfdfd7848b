//! Bodies sent with a `Content-Encoding` (as CDNs do, even when asked for `identity`): decoded
//! as they stream. gzip, deflate and brotli are decoded; another encoding is an error that names
//! it.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use reqwest::header::{self, HeaderMap};

/// The decoder of one body.
pub(crate) struct Decoder {
    name: String,
    inner: Inner,
    out: Output,
}

enum Inner {
    Gzip(flate2::write::MultiGzDecoder<Output>),
    Deflate(flate2::write::ZlibDecoder<Output>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Output>>),
}

/// Where a decoder writes; drained after every piece.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Output {
    fn take(&self) -> Bytes {
        Bytes::from(std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner)))
    }
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").field("encoding", &self.name).finish()
    }
}

impl Decoder {
    /// The decoder a response's `Content-Encoding` asks for: `Ok(None)` for none or `identity`,
    /// `Err` with the encoding's name when it is not one of gzip, deflate and brotli.
    pub(crate) fn for_headers(headers: &HeaderMap) -> Result<Option<Self>, String> {
        let Some(value) = headers.get(header::CONTENT_ENCODING) else { return Ok(None) };
        let name = value.to_str().unwrap_or("(not text)").trim().to_ascii_lowercase();
        let out = Output::default();
        let inner = match name.as_str() {
            "" | "identity" => return Ok(None),
            "gzip" | "x-gzip" => Inner::Gzip(flate2::write::MultiGzDecoder::new(out.clone())),
            "deflate" => Inner::Deflate(flate2::write::ZlibDecoder::new(out.clone())),
            "br" => Inner::Brotli(Box::new(brotli_decompressor::DecompressorWriter::new(out.clone(), 64 << 10))),
            _ => return Err(name),
        };
        Ok(Some(Self { name, inner, out }))
    }

    /// The encoding's name, e.g. `gzip`.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Decodes the next piece of the body.
    pub(crate) fn push(&mut self, piece: &[u8]) -> io::Result<Bytes> {
        match &mut self.inner {
            Inner::Gzip(decoder) => decoder.write_all(piece)?,
            Inner::Deflate(decoder) => decoder.write_all(piece)?,
            Inner::Brotli(decoder) => decoder.write_all(piece)?,
        }
        Ok(self.out.take())
    }

    /// The body ended: the last decoded bytes; an error when the encoded stream was cut short.
    pub(crate) fn finish(self) -> io::Result<Bytes> {
        match self.inner {
            Inner::Gzip(decoder) => drop(decoder.finish()?),
            Inner::Deflate(decoder) => drop(decoder.finish()?),
            Inner::Brotli(decoder) => drop(decoder.into_inner().map_err(|_| io::ErrorKind::UnexpectedEof)?),
        }
        Ok(self.out.take())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use reqwest::header::{CONTENT_ENCODING, HeaderMap, HeaderValue};

    use super::Decoder;

    fn decode(encoding: &str, encoded: &[u8]) -> Vec<u8> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_ENCODING, HeaderValue::from_str(encoding).expect("header"));
        let mut decoder = Decoder::for_headers(&headers).expect("supported").expect("a decoder");
        let mut out = Vec::new();
        for piece in encoded.chunks(7) {
            out.extend_from_slice(&decoder.push(piece).expect("decoded"));
        }
        out.extend_from_slice(&decoder.finish().expect("finished"));
        out
    }

    #[test]
    fn gzip_and_deflate_decode_in_pieces() {
        let text = b"PK\x03\x04 and more bytes, many times over. ".repeat(100);
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(&text).expect("gzip");
        assert_eq!(decode("gzip", &gzip.finish().expect("gzip")), text);
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(&text).expect("zlib");
        assert_eq!(decode("deflate", &zlib.finish().expect("zlib")), text);
    }

    #[test]
    fn identity_needs_no_decoder_and_unknown_encodings_are_named() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("identity"));
        assert!(Decoder::for_headers(&headers).expect("fine").is_none());
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("zstd"));
        assert_eq!(Decoder::for_headers(&headers).err(), Some("zstd".to_owned()));
    }
}
