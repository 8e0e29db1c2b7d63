#if canImport(Glibc)
    import Glibc
#endif

/// Parses decimal text to `Double`, giving exactly the value `strtod` gives (correctly rounded).
///
/// Fast path (no allocation, no libc): at most 19 significant digits whose value fits
/// in 2^53 and a decimal exponent within ±22 (Clinger's exact case: one correctly rounded
/// IEEE multiplication or division). Everything else (long mantissas, large exponents,
/// `inf`, hex) falls back to `strtod` on a stack copy.
public enum NumberParser {
    /// Result of parsing one field.
    public enum Result: Equatable, Sendable {
        case number(Double)
        case invalid
    }

    @usableFromInline
    static let exactPowersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
    ]

    @usableFromInline
    static let exactPowersOfTenInt: [UInt64] = [1, 10, 100, 1000, 10000, 100_000, 1_000_000, 10_000_000, 100_000_000]

    /// Whether all eight bytes of `w` are ASCII digits.
    @inlinable @inline(__always)
    static func isEightDigits(_ w: UInt64) -> Bool {
        ((w & 0xF0F0_F0F0_F0F0_F0F0) | (((w &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4)) == 0x3333_3333_3333_3333
    }

    /// The value of eight ASCII digits, first digit in the lowest byte.
    @inlinable @inline(__always)
    static func eightDigitsValue(_ w: UInt64) -> UInt64 {
        var v = ((w & 0x0F0F_0F0F_0F0F_0F0F) &* 2561) >> 8
        v = ((v & 0x00FF_00FF_00FF_00FF) &* 6_553_601) >> 16
        return ((v & 0x0000_FFFF_0000_FFFF) &* 42_949_672_960_001) >> 32
    }

    /// Parses `count` bytes at `start`. Leading and trailing spaces and tabs are ignored.
    /// Accepts `[+-]digits[.digits][(e|E)[+-]digits]`, `.5`, `5.`, and what `strtod` accepts
    /// for infinities; rejects empty text, hex floats and NaN (callers treat NaN tokens as missing).
    @inlinable
    public static func parse(_ start: UnsafePointer<UInt8>, count: Int) -> Result {
        // Common case first: [-+]digits[.digits][e[-+]digits], at most 19 digits, no spaces.
        let end = start + count
        var p = start
        if count == 0 { return .invalid }
        var negative = false
        if p.pointee == UInt8(ascii: "-") {
            negative = true
            p += 1
        } else if p.pointee == UInt8(ascii: "+") {
            p += 1
        }
        var m: UInt64 = 0
        let intStart = p
        while p < end {
            let d = p.pointee &- 0x30
            if d >= 10 { break }
            m = m &* 10 &+ UInt64(d)
            p += 1
        }
        var digits = p - intStart
        var exponent = 0
        if p < end && p.pointee == UInt8(ascii: "."), end - p <= 9, count >= 8, digits <= 11 {
            // The field ends with 1–8 fraction digits: read them as one word (the 8 bytes ending at
            // `end`, all inside the field), no per-digit branches.
            let n = end - p - 1
            let shift = UInt64((8 - n) * 8)
            let raw = UInt64(littleEndian: UnsafeRawPointer(end - 8).loadUnaligned(as: UInt64.self))
            // Keep the last n bytes (the high ones, little-endian); the first 8 − n become '0'.
            let w = (raw & (~0 << shift)) | (0x3030_3030_3030_3030 >> (64 &- shift))
            if n > 0 && isEightDigits(w) {
                m = m &* exactPowersOfTenInt[n] &+ eightDigitsValue(w)
                digits += n
                if digits == 0 || digits > 19 { return general(start, count: count) }
                if m == 0 { return .number(negative ? -0.0 : 0.0) }
                if m <= (1 << 53) {
                    let value = Double(m) / exactPowersOfTen[n]
                    return .number(negative ? -value : value)
                }
                return general(start, count: count)
            }
        }
        if p < end && p.pointee == UInt8(ascii: ".") {
            p += 1
            let fracStart = p
            while p < end {
                let d = p.pointee &- 0x30
                if d >= 10 { break }
                m = m &* 10 &+ UInt64(d)
                p += 1
            }
            exponent = fracStart - p
            digits -= exponent
        }
        if digits == 0 || digits > 19 { return general(start, count: count) }
        if p < end {
            guard (p.pointee | 0x20) == UInt8(ascii: "e") else { return general(start, count: count) }
            p += 1
            var expNegative = false
            if p < end && p.pointee == UInt8(ascii: "-") {
                expNegative = true
                p += 1
            } else if p < end && p.pointee == UInt8(ascii: "+") {
                p += 1
            }
            let expStart = p
            var e = 0
            while p < end {
                let d = p.pointee &- 0x30
                if d >= 10 { break }
                if e < 100_000 { e = e &* 10 &+ Int(d) }
                p += 1
            }
            if p == expStart || p != end { return general(start, count: count) }
            exponent += expNegative ? -e : e
        }
        if m == 0 { return .number(negative ? -0.0 : 0.0) }
        if m <= (1 << 53) && exponent >= -22 && exponent <= 22 {
            var value = Double(m)
            if exponent < 0 { value /= exactPowersOfTen[-exponent] } else { value *= exactPowersOfTen[exponent] }
            return .number(negative ? -value : value)
        }
        return general(start, count: count)
    }

    /// The careful path: whitespace, long mantissas, unusual forms.
    @usableFromInline
    static func general(_ start: UnsafePointer<UInt8>, count: Int) -> Result {
        var p = start
        var end = start + count
        while p < end && (p.pointee == 0x20 || p.pointee == 0x09) { p += 1 }
        while end > p && (end[-1] == 0x20 || end[-1] == 0x09) { end -= 1 }
        if p == end { return .invalid }
        let textStart = p
        var negative = false
        if p.pointee == UInt8(ascii: "-") {
            negative = true
            p += 1
        } else if p.pointee == UInt8(ascii: "+") {
            p += 1
        }
        var mantissa: UInt64 = 0
        var digits = 0  // significant digits accumulated in mantissa
        var sawDigit = false
        var exponent = 0
        // Integer part.
        while p < end {
            let d = p.pointee &- 0x30
            if d > 9 { break }
            sawDigit = true
            if digits > 0 || d != 0 {
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(d)
                    digits += 1
                } else {
                    return slow(textStart, end)
                }
            }
            p += 1
        }
        if p < end && p.pointee == UInt8(ascii: ".") {
            p += 1
            while p < end {
                let d = p.pointee &- 0x30
                if d > 9 { break }
                sawDigit = true
                if digits > 0 || d != 0 {
                    if digits < 19 {
                        mantissa = mantissa &* 10 &+ UInt64(d)
                        digits += 1
                    } else {
                        return slow(textStart, end)
                    }
                }
                exponent -= 1
                p += 1
            }
        }
        if !sawDigit { return slow(textStart, end) }
        if p < end && (p.pointee | 0x20) == UInt8(ascii: "e") {
            p += 1
            var expNegative = false
            if p < end && p.pointee == UInt8(ascii: "-") {
                expNegative = true
                p += 1
            } else if p < end && p.pointee == UInt8(ascii: "+") {
                p += 1
            }
            var e = 0
            var sawExpDigit = false
            while p < end {
                let d = p.pointee &- 0x30
                if d > 9 { break }
                sawExpDigit = true
                if e < 100_000 { e = e * 10 + Int(d) }
                p += 1
            }
            if !sawExpDigit { return .invalid }
            exponent += expNegative ? -e : e
        }
        if p != end { return .invalid }
        if mantissa == 0 { return .number(negative ? -0.0 : 0.0) }
        if mantissa <= (1 << 53) && exponent >= -22 && exponent <= 22 {
            var value = Double(mantissa)
            if exponent < 0 { value /= exactPowersOfTen[-exponent] } else { value *= exactPowersOfTen[exponent] }
            return .number(negative ? -value : value)
        }
        return slow(textStart, end)
    }

    /// `strtod` on a NUL-terminated stack copy; the whole text must be consumed.
    @usableFromInline
    static func slow(_ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> Result {
        let count = end - start
        // Long forms (e.g. `0.000…001` with thousands of zeros) are valid numbers; 64 KiB bounds
        // the copy and strtod's work on a pathological field.
        if count == 0 || count > 1 << 16 { return .invalid }
        // Reject hex floats and NaN: strtod accepts them but a CSV number column should not.
        var q = start
        while q < end {
            let c = q.pointee | 0x20
            if c == UInt8(ascii: "x") || (c == UInt8(ascii: "n") && q + 1 < end && (q[1] | 0x20) == UInt8(ascii: "a")) { return .invalid }
            q += 1
        }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { buf in
            let base = buf.baseAddress!
            start.withMemoryRebound(to: CChar.self, capacity: count) { src in
                base.update(from: src, count: count)
            }
            base[count] = 0
            var endPtr: UnsafeMutablePointer<CChar>? = nil
            let value = strtod(base, &endPtr)
            guard let endPtr, endPtr - base == count else { return .invalid }
            return .number(value)
        }
    }

    /// Parses a Swift string (convenience, not for hot loops).
    public static func parse(_ text: String) -> Result {
        var text = text
        return text.withUTF8 { parse($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: $0.count) }
    }
}
