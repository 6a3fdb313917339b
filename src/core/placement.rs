//! Where a tooltip goes: beside its target on the chosen side, flipped to the opposite
//! side when it does not fit, shifted along that side to stay in the viewport, with the
//! arrow kept pointing at the target. Pure geometry, so it is tested natively.

#[allow(unused_imports)]
use crate::prelude::*;

pub use crate::core::content::model::Corner;

/// A rectangle in viewport coordinates (CSS pixels).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

/// The side of the target a tooltip sits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Above the target.
    Top,
    /// Below the target.
    Bottom,
    /// Left of the target.
    Left,
    /// Right of the target.
    Right,
}

impl Side {
    /// The opposite side.
    pub fn opposite(self) -> Side {
        match self {
            Side::Top => Side::Bottom,
            Side::Bottom => Side::Top,
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }

    /// The side's name as used in content and CSS (`top`, `bottom`, `left`, `right`).
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Top => "top",
            Side::Bottom => "bottom",
            Side::Left => "left",
            Side::Right => "right",
        }
    }
}

/// Where to put the tooltip.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// The side actually used (after flipping).
    pub side: Side,
    /// Tooltip left edge.
    pub x: f64,
    /// Tooltip top edge.
    pub y: f64,
    /// Arrow position along the tooltip's edge facing the target (from its left edge
    /// for top/bottom, from its top edge for left/right).
    pub arrow: f64,
}

/// Gap between target and tooltip, room for the arrow.
pub const GAP: f64 = 12.0;
/// Minimum distance kept from the viewport edges.
pub const MARGIN: f64 = 8.0;

fn fits(side: Side, target: Rect, w: f64, h: f64, vw: f64, vh: f64) -> bool {
    match side {
        Side::Top => target.y - GAP - h >= MARGIN,
        Side::Bottom => target.y + target.height + GAP + h <= vh - MARGIN,
        Side::Left => target.x - GAP - w >= MARGIN,
        Side::Right => target.x + target.width + GAP + w <= vw - MARGIN,
    }
}

fn clamp(v: f64, lo: f64, hi: f64) -> f64 {
    if hi < lo {
        lo
    } else {
        v.max(lo).min(hi)
    }
}

/// Places a `width` × `height` tooltip next to `target` inside a `vw` × `vh` viewport,
/// preferring `preferred`. Flips to the opposite side when the preferred one lacks room
/// and the opposite has it; then shifts along the side so the tooltip stays within the
/// viewport margins. The arrow stays over the target's centre, within the tooltip.
pub fn place(
    target: Rect,
    width: f64,
    height: f64,
    vw: f64,
    vh: f64,
    preferred: Side,
) -> Placement {
    let side = if !fits(preferred, target, width, height, vw, vh)
        && fits(preferred.opposite(), target, width, height, vw, vh)
    {
        preferred.opposite()
    } else {
        preferred
    };
    let cx = target.x + target.width / 2.0;
    let cy = target.y + target.height / 2.0;
    let (x, y) = match side {
        Side::Top => (cx - width / 2.0, target.y - GAP - height),
        Side::Bottom => (cx - width / 2.0, target.y + target.height + GAP),
        Side::Left => (target.x - GAP - width, cy - height / 2.0),
        Side::Right => (target.x + target.width + GAP, cy - height / 2.0),
    };
    let x = clamp(x, MARGIN, vw - MARGIN - width);
    let y = clamp(y, MARGIN, vh - MARGIN - height);
    let arrow = match side {
        Side::Top | Side::Bottom => clamp(cx - x, 14.0, width - 14.0),
        Side::Left | Side::Right => clamp(cy - y, 14.0, height - 14.0),
    };
    Placement { side, x, y, arrow }
}

/// Where a widget of `width` × `height` kept `margin` from the viewport's edges
/// (`vw` × `vh`) sits in `corner`.
pub fn corner_rect(corner: Corner, width: f64, height: f64, vw: f64, vh: f64, margin: f64) -> Rect {
    let left = matches!(corner, Corner::BottomLeft | Corner::TopLeft);
    let top = matches!(corner, Corner::TopLeft | Corner::TopRight);
    Rect {
        x: if left { margin } else { vw - margin - width },
        y: if top { margin } else { vh - margin - height },
        width,
        height,
    }
}

fn overlaps(a: Rect, b: Rect) -> bool {
    a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
}

/// The corner a widget (the checklist) should sit in so that it covers none of
/// `avoid` (a flow's tooltip, its target, a bubble): `preferred` when it is
/// clear, else the first clear one of the other corner on the same edge, the
/// corner on the other edge and the opposite corner; `preferred` when none is.
pub fn clear_corner(
    preferred: Corner,
    width: f64,
    height: f64,
    vw: f64,
    vh: f64,
    margin: f64,
    avoid: &[Rect],
) -> Corner {
    use Corner::*;
    let order = match preferred {
        BottomRight => [BottomRight, BottomLeft, TopRight, TopLeft],
        BottomLeft => [BottomLeft, BottomRight, TopLeft, TopRight],
        TopRight => [TopRight, TopLeft, BottomRight, BottomLeft],
        TopLeft => [TopLeft, TopRight, BottomLeft, BottomRight],
    };
    order
        .into_iter()
        .find(|&c| {
            let r = corner_rect(c, width, height, vw, vh, margin);
            !avoid.iter().any(|&a| overlaps(r, a))
        })
        .unwrap_or(preferred)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VW: f64 = 1000.0;
    const VH: f64 = 800.0;

    #[test]
    fn the_checklist_moves_off_what_a_flow_shows() {
        use Corner::*;
        let r = |x, y, width, height| Rect {
            x,
            y,
            width,
            height,
        };
        let (w, h, m) = (300.0, 400.0, 24.0);
        // Nothing to avoid: where the content put it.
        assert_eq!(clear_corner(BottomRight, w, h, VW, VH, m, &[]), BottomRight);
        assert_eq!(
            corner_rect(BottomRight, w, h, VW, VH, m),
            r(676.0, 376.0, 300.0, 400.0)
        );
        // A target in the bottom-right: the same edge's other corner.
        let target = r(900.0, 700.0, 80.0, 30.0);
        assert_eq!(
            clear_corner(BottomRight, w, h, VW, VH, m, &[target]),
            BottomLeft
        );
        // A tooltip across the bottom: the top edge, same side first.
        let wide = r(0.0, 600.0, 1000.0, 100.0);
        assert_eq!(
            clear_corner(BottomRight, w, h, VW, VH, m, &[wide]),
            TopRight
        );
        assert_eq!(
            clear_corner(TopLeft, w, h, VW, VH, m, &[r(30.0, 30.0, 5.0, 5.0)]),
            TopRight
        );
        // Touching edges do not overlap.
        assert_eq!(
            clear_corner(BottomRight, w, h, VW, VH, m, &[r(0.0, 0.0, 676.0, 800.0)]),
            BottomRight
        );
        // Covered everywhere: stays.
        let all = r(0.0, 0.0, VW, VH);
        assert_eq!(
            clear_corner(BottomLeft, w, h, VW, VH, m, &[all]),
            BottomLeft
        );
    }

    proptest! {
        /// The chosen corner is clear of every obstacle whenever some corner is.
        #[test]
        fn a_clear_corner_is_found_when_there_is_one(
            obstacles in prop::collection::vec((0.0..VW, 0.0..VH, 1.0..400.0f64, 1.0..400.0f64), 0..4),
            pref in 0usize..4,
        ) {
            use Corner::*;
            let corners = [BottomRight, BottomLeft, TopRight, TopLeft];
            let avoid: Vec<Rect> = obstacles.iter().map(|&(x, y, width, height)| Rect { x, y, width, height }).collect();
            let got = clear_corner(corners[pref], 280.0, 300.0, VW, VH, 24.0, &avoid);
            let clear = |c| {
                let r = corner_rect(c, 280.0, 300.0, VW, VH, 24.0);
                !avoid.iter().any(|&a| overlaps(r, a))
            };
            if corners.iter().any(|&c| clear(c)) {
                prop_assert!(clear(got));
            } else {
                prop_assert_eq!(got, corners[pref]);
            }
            if clear(corners[pref]) {
                prop_assert_eq!(got, corners[pref]);
            }
        }
    }

    fn r(x: f64, y: f64, w: f64, h: f64) -> Rect {
        Rect {
            x,
            y,
            width: w,
            height: h,
        }
    }

    #[test]
    fn sits_on_the_preferred_side_centred_when_there_is_room() {
        let p = place(
            r(400.0, 300.0, 100.0, 40.0),
            200.0,
            100.0,
            VW,
            VH,
            Side::Bottom,
        );
        assert_eq!(p.side, Side::Bottom);
        assert_eq!((p.x, p.y), (350.0, 352.0));
        assert_eq!(p.arrow, 100.0);
        let p = place(
            r(400.0, 300.0, 100.0, 40.0),
            200.0,
            100.0,
            VW,
            VH,
            Side::Right,
        );
        assert_eq!(p.side, Side::Right);
        assert_eq!((p.x, p.y), (512.0, 270.0));
    }

    #[test]
    fn flips_when_the_preferred_side_has_no_room() {
        // Target near the bottom: below does not fit, above does.
        let p = place(
            r(400.0, 740.0, 100.0, 40.0),
            200.0,
            100.0,
            VW,
            VH,
            Side::Bottom,
        );
        assert_eq!(p.side, Side::Top);
        assert_eq!(p.y, 740.0 - GAP - 100.0);
        // Target at the left edge: left does not fit, right does.
        let p = place(r(5.0, 300.0, 50.0, 40.0), 200.0, 100.0, VW, VH, Side::Left);
        assert_eq!(p.side, Side::Right);
    }

    #[test]
    fn keeps_the_preferred_side_when_neither_fits() {
        let p = place(r(0.0, 0.0, 1000.0, 800.0), 200.0, 100.0, VW, VH, Side::Top);
        assert_eq!(p.side, Side::Top);
        assert!(p.y >= MARGIN);
    }

    #[test]
    fn shifts_along_the_side_and_keeps_the_arrow_on_the_target() {
        let p = place(
            r(960.0, 300.0, 30.0, 30.0),
            200.0,
            100.0,
            VW,
            VH,
            Side::Bottom,
        );
        assert_eq!(p.x, VW - MARGIN - 200.0);
        // Target centre 975 is 183 px into the tooltip, inside the arrow range.
        assert_eq!(p.arrow, 975.0 - p.x);
        let p = place(
            r(0.0, 300.0, 10.0, 30.0),
            200.0,
            100.0,
            VW,
            VH,
            Side::Bottom,
        );
        assert_eq!(p.x, MARGIN);
        assert_eq!(p.arrow, 14.0);
    }

    proptest! {
        #[test]
        fn always_inside_the_viewport_when_it_can_be(
            x in -200.0f64..1200.0, y in -200.0f64..1000.0,
            w in 1.0f64..300.0, h in 1.0f64..300.0,
            tw in 50.0f64..400.0, th in 30.0f64..300.0,
            side in prop_oneof![Just(Side::Top), Just(Side::Bottom), Just(Side::Left), Just(Side::Right)],
        ) {
            let p = place(r(x, y, w, h), tw, th, VW, VH, side);
            prop_assert!(p.x >= MARGIN - 1e-9 && p.x + tw <= VW - MARGIN + 1e-9);
            prop_assert!(p.y >= MARGIN - 1e-9 && p.y + th <= VH - MARGIN + 1e-9);
            let extent = match p.side { Side::Top | Side::Bottom => tw, _ => th };
            prop_assert!(p.arrow >= 14.0 - 1e-9 && p.arrow <= extent - 14.0 + 1e-9 || extent < 28.0);
            prop_assert!(p.side == side || p.side == side.opposite());
        }
    }
}
