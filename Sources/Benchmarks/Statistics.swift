/// The one statistic the benchmarks report.
public enum Statistics {
    /// The median; of an even count, the mean of the middle two.
    public static func median(_ values: [Double]) -> Double {
        precondition(!values.isEmpty)
        let v = values.sorted()
        return v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
    }
}
