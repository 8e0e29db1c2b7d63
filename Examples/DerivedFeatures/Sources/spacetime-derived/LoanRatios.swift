import Forest

/// Derived features of a loan data set: two ratios of amounts and the parts of a date.
///
/// Input columns (found by name): `income`, `debt`, `amount` (numbers) and `opened`, a date
/// written as the number yyyymmdd (e.g. 20240315). Output: every input column, then
/// `debt_to_income`, `amount_to_income`, `opened_year`, `opened_month` and
/// `opened_weekday` (0 = Monday). A missing input, a zero income or an invalid date gives
/// a missing (NaN) derived value.
struct LoanRatios: FeatureDerivation {
    static let name = "loan-ratios-v1"
    static let derived = ["debt_to_income", "amount_to_income", "opened_year", "opened_month", "opened_weekday"]

    struct MissingColumn: Error, CustomStringConvertible {
        let name: String
        let inputNames: [String]
        var description: String { "no input column '\(name)' (the input columns are \(inputNames.joined(separator: ", ")))" }
    }

    let identifier = LoanRatios.name
    private let income: Int, debt: Int, amount: Int, opened: Int

    /// Finds the columns by name; throws for a data set without one of them.
    init(inputNames: [String]) throws {
        func index(_ name: String) throws -> Int {
            guard let i = inputNames.firstIndex(of: name) else { throw MissingColumn(name: name, inputNames: inputNames) }
            return i
        }
        income = try index("income")
        debt = try index("debt")
        amount = try index("amount")
        opened = try index("opened")
    }

    func outputNames(inputNames: [String]) -> [String] { inputNames + Self.derived }

    func derive(_ input: UnsafeBufferPointer<Double>, into output: UnsafeMutableBufferPointer<Double>) {
        let n = input.count
        for i in 0..<n { output[i] = input[i] }
        let inc = input[income]
        output[n] = inc != 0 ? input[debt] / inc : .nan
        output[n + 1] = inc != 0 ? input[amount] / inc : .nan
        let (year, month, weekday) = Self.dateParts(input[opened])
        output[n + 2] = year
        output[n + 3] = month
        output[n + 4] = weekday
    }

    /// Year, month and weekday (0 = Monday) of a yyyymmdd number; NaNs when it is not a date.
    static func dateParts(_ value: Double) -> (Double, Double, Double) {
        guard value.isFinite, value >= 1_000_01_01, value <= 9999_12_31, value == value.rounded() else { return (.nan, .nan, .nan) }
        let v = Int(value)
        let y = v / 10_000
        let m = (v / 100) % 100
        let d = v % 100
        guard (1...12).contains(m), (1...31).contains(d) else { return (.nan, .nan, .nan) }
        // Days since 1970-01-01 (H. Hinnant's days_from_civil); 1970-01-01 was a Thursday (3).
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let weekday = ((days % 7) + 7 + 3) % 7
        return (Double(y), Double(m), Double(weekday))
    }
}
