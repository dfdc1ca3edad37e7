//! Tempo's protobuf answer, built by hand for the fake store.

/// Tempo's `TraceByIDResponse { trace = 1; status = 3; message = 4 }` around a `Trace`.
pub fn tempo_response(trace: &[u8], partial_message: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    field(&mut out, 1, trace);
    if let Some(message) = partial_message {
        out.extend_from_slice(&[0x18, 0x01]);
        field(&mut out, 4, message.as_bytes());
    }
    out
}

fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
    out.push(number << 3 | 2);
    let mut len = bytes.len();
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(bytes);
}
