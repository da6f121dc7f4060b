package import Foundation

/// Douglas-Peucker line simplification for a payload's track: keeps the first and last fix and,
/// recursively, the fix farthest from the line between the kept ones while it is more than
/// `tolerance` meters away. Distances are measured on a local equirectangular projection around
/// the track's first fix (exact enough over a delivery round; a track across the antimeridian is
/// not simplified correctly and should not happen).
package enum RouteSimplifier {
  /// The indices of the points to keep, ascending. Every index with `tolerance` 0 or below.
  package static func keptIndices(of points: [(latitude: Double, longitude: Double)], tolerance: Double) -> [Int] {
    guard points.count > 2, tolerance > 0 else { return Array(points.indices) }
    let origin = points[0]
    let metersPerDegree = 6_371_008.8 * .pi / 180
    let scale = cos(origin.latitude * .pi / 180)
    let projected = points.map { point in
      ((point.longitude - origin.longitude) * metersPerDegree * scale, (point.latitude - origin.latitude) * metersPerDegree)
    }
    var keep = [Bool](repeating: false, count: points.count)
    keep[0] = true
    keep[points.count - 1] = true
    // An explicit stack: a long straight track would recurse once per fix.
    var spans = [(0, points.count - 1)]
    while let (first, last) = spans.popLast() {
      guard last - first > 1 else { continue }
      var farthest = first
      var farthestDistance = -1.0
      for index in (first + 1)..<last {
        let distance = distanceToSegment(projected[index], projected[first], projected[last])
        if distance > farthestDistance {
          farthestDistance = distance
          farthest = index
        }
      }
      if farthestDistance > tolerance {
        keep[farthest] = true
        spans.append((first, farthest))
        spans.append((farthest, last))
      }
    }
    return keep.indices.filter { keep[$0] }
  }

  /// Distance from `p` to the segment `a`-`b` in the plane.
  static func distanceToSegment(_ p: (Double, Double), _ a: (Double, Double), _ b: (Double, Double)) -> Double {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1)
    let lengthSquared = dx * dx + dy * dy
    guard lengthSquared > 0 else { return hypot(p.0 - a.0, p.1 - a.1) }
    let t = max(0, min(1, ((p.0 - a.0) * dx + (p.1 - a.1) * dy) / lengthSquared))
    return hypot(p.0 - (a.0 + t * dx), p.1 - (a.1 + t * dy))
  }
}
