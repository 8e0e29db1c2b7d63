import Synchronization

/// A value shared between threads, every access under one mutex: the lock
/// type of every SpaceTime module (the standard library's `Mutex`, boxed so
/// that closures and several owners can share it by reference).
///
/// `Locked<Void>` (``Lock``) guards state kept outside it, in a class whose
/// `@unchecked Sendable` names the lock.
public final class Locked<Value>: Sendable {
    private let mutex: Mutex<Value>

    public init(_ value: sending Value) {
        mutex = Mutex(value)
    }

    /// Runs `body` with the value, holding the lock; do not block in `body`.
    @inline(__always)
    public func withLock<Result>(_ body: (inout sending Value) throws -> sending Result) rethrows -> sending Result {
        try mutex.withLock(body)
    }
}

/// A bare mutex, for state a class keeps outside the lock.
public typealias Lock = Locked<Void>

extension Locked where Value == Void {
    public convenience init() {
        self.init(())
    }

    /// Runs `body` holding the lock.
    @inline(__always)
    public func withLock<Result>(_ body: () throws -> sending Result) rethrows -> sending Result {
        try mutex.withLock { _ in try body() }
    }
}
