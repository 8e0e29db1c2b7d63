import CZeroMQ

/// A CURVE public key (32 bytes). Safe to log and share; usually written
/// as 40 Z85 characters.
public struct CurvePublicKey: Sendable, Hashable, CustomStringConvertible {
    /// The 32 key bytes.
    public let bytes: [UInt8]

    /// A key from its 32 bytes.
    public init(bytes: [UInt8]) throws(ZMQError) {
        guard bytes.count == 32 else {
            throw ZMQError(
                code: .invalidArgument, operation: "CurvePublicKey",
                detail: "a CURVE key has 32 bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// A key from its 40-character Z85 text.
    public init(z85: String) throws(ZMQError) {
        guard z85.utf8.count == 40 else {
            throw ZMQError(
                code: .invalidArgument, operation: "CurvePublicKey",
                detail: "a Z85 CURVE key has 40 characters, got \(z85.utf8.count)")
        }
        try self.init(bytes: Z85.decode(z85))
    }

    /// The public key belonging to a secret key.
    public init(secretKey: CurveSecretKey) throws(ZMQError) {
        var out = [CChar](repeating: 0, count: 41)
        let rc = out.withUnsafeMutableBufferPointer { o in
            secretKey.z85.withCString { zmq_curve_public(o.baseAddress, $0) }
        }
        guard rc == 0 else { throw ZMQError.current("zmq_curve_public") }
        try self.init(z85: String(decoding: out.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// The 40-character Z85 text.
    public var z85: String {
        // 32 bytes always encode.
        (try? Z85.encode(bytes)) ?? ""
    }

    /// A short identifier for logs: the first 8 Z85 characters.
    public var fingerprint: String { String(z85.prefix(8)) }

    public var description: String { z85 }
}

/// A CURVE secret key (32 bytes). Its description is redacted so it never
/// reaches a log by accident; read ``z85`` explicitly to store it.
public struct CurveSecretKey: Sendable, Hashable, CustomStringConvertible {
    /// The 32 key bytes.
    public let bytes: [UInt8]

    /// A key from its 32 bytes.
    public init(bytes: [UInt8]) throws(ZMQError) {
        guard bytes.count == 32 else {
            throw ZMQError(
                code: .invalidArgument, operation: "CurveSecretKey",
                detail: "a CURVE key has 32 bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// A key from its 40-character Z85 text.
    public init(z85: String) throws(ZMQError) {
        guard z85.utf8.count == 40 else {
            throw ZMQError(
                code: .invalidArgument, operation: "CurveSecretKey",
                detail: "a Z85 CURVE key has 40 characters, got \(z85.utf8.count)")
        }
        try self.init(bytes: Z85.decode(z85))
    }

    /// The 40-character Z85 text.
    public var z85: String { (try? Z85.encode(bytes)) ?? "" }

    public var description: String { "CurveSecretKey(<redacted>)" }
}

/// A CURVE key pair.
public struct CurveKeyPair: Sendable, Hashable {
    public let publicKey: CurvePublicKey
    public let secretKey: CurveSecretKey

    public init(publicKey: CurvePublicKey, secretKey: CurveSecretKey) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A key pair from a secret key (the public key is derived).
    public init(secretKey: CurveSecretKey) throws(ZMQError) {
        self.init(publicKey: try CurvePublicKey(secretKey: secretKey), secretKey: secretKey)
    }

    /// Generates a new random key pair (`zmq_curve_keypair`).
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = [CChar](repeating: 0, count: 41)
        let rc = zmq_curve_keypair(&publicText, &secretText)
        guard rc == 0 else { throw ZMQError.current("zmq_curve_keypair") }
        func text(_ chars: [CChar]) -> String { String(decoding: chars.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return CurveKeyPair(
            publicKey: try CurvePublicKey(z85: text(publicText)),
            secretKey: try CurveSecretKey(z85: text(secretText)))
    }
}

extension Socket {
    /// Makes this socket a CURVE server: peers must use CURVE and know the
    /// matching public key. Call before ``bind(_:)``.
    ///
    /// Without a ``ZAPAuthenticator`` in the same context any client key is
    /// accepted (encryption without authentication).
    ///
    /// - Parameter zapDomain: the domain sent to the authenticator.
    public func configureCurveServer(secretKey: CurveSecretKey, zapDomain: String = "spacetime") throws(ZMQError) {
        try set(.curveServer, true)
        try set(.curveSecretKey, secretKey.bytes)
        try set(.zapDomain, Array(zapDomain.utf8))
    }

    /// Makes this socket a CURVE client of a server whose public key is
    /// `serverKey`. Call before ``connect(_:)``. With a wrong server key
    /// the handshake fails silently: nothing is ever delivered.
    public func configureCurveClient(keyPair: CurveKeyPair, serverKey: CurvePublicKey) throws(ZMQError) {
        try set(.curveServerKey, serverKey.bytes)
        try set(.curvePublicKey, keyPair.publicKey.bytes)
        try set(.curveSecretKey, keyPair.secretKey.bytes)
    }
}
