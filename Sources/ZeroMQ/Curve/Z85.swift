import CZeroMQ

/// ZeroMQ's Z85 text encoding of binary data (RFC 32/Z85), used for CURVE keys.
public enum Z85 {
    /// Encodes `bytes`, whose count must be a multiple of 4 (5 characters per 4 bytes).
    public static func encode(_ bytes: [UInt8]) throws(ZMQError) -> String {
        guard bytes.count % 4 == 0 else {
            throw ZMQError(
                code: .invalidArgument, operation: "zmq_z85_encode",
                detail: "input length \(bytes.count) is not a multiple of 4")
        }
        var text = [CChar](repeating: 0, count: bytes.count / 4 * 5 + 1)
        let ok = text.withUnsafeMutableBufferPointer { out in
            bytes.withUnsafeBufferPointer { zmq_z85_encode(out.baseAddress, $0.baseAddress, $0.count) != nil }
        }
        guard ok else { throw ZMQError.current("zmq_z85_encode") }
        return String(decoding: text.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Decodes Z85 `text`, whose length must be a multiple of 5, into bytes.
    public static func decode(_ text: String) throws(ZMQError) -> [UInt8] {
        let utf8 = Array(text.utf8)
        guard utf8.count % 5 == 0 else {
            throw ZMQError(
                code: .invalidArgument, operation: "zmq_z85_decode",
                detail: "input length \(utf8.count) is not a multiple of 5")
        }
        guard
            utf8.allSatisfy({
                $0 >= 0x21 && $0 <= 0x7D && $0 != 0x22 && $0 != 0x27 && $0 != 0x2C && $0 != 0x3B && $0 != 0x5C && $0 != 0x5F && $0 != 0x60
                    && $0 != 0x7C
            })
        else {
            throw ZMQError(
                code: .invalidArgument, operation: "zmq_z85_decode",
                detail: "input contains characters outside the Z85 alphabet")
        }
        var bytes = [UInt8](repeating: 0, count: utf8.count / 5 * 4)
        let ok = bytes.withUnsafeMutableBufferPointer { out in
            text.withCString { zmq_z85_decode(out.baseAddress, $0) != nil }
        }
        guard ok else {
            throw ZMQError(code: .invalidArgument, operation: "zmq_z85_decode", detail: "invalid Z85 text")
        }
        return bytes
    }
}
