//! A layered (Sugiyama-style) drawing of a directed graph, top to bottom: layers by the
//! longest path from the first node over the edges that are not back edges, a few
//! barycenter sweeps to reduce crossings, coordinates that pull each box over its
//! neighbours, and edges as cubic Béziers: down through the layers, back edges around
//! the side, self-loops as a bulge on the right. Everything depends only on the input's
//! order, so the same graph always gives the same drawing.

/// Vertical room between two layers (edge labels live there).
const LAYER_GAP: f64 = 78.0;
/// Least room between two boxes of one layer.
const NODE_GAP: f64 = 40.0;
/// Least room next to a long edge passing through a layer.
const DUMMY_GAP: f64 = 14.0;
/// Room between the drawing and its edge.
const MARGIN: f64 = 24.0;
/// How far a self-loop bulges out of its box.
const LOOP_REACH: f64 = 34.0;
/// Room between the boxes and the first side lane, and between lanes.
const LANE_GAP: f64 = 22.0;
/// Crossing-reduction sweeps (alternately down and up).
const SWEEPS: usize = 16;
/// Coordinate-assignment rounds.
const ROUNDS: usize = 24;

/// A point of the drawing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub(crate) x: f64,
    pub(crate) y: f64,
}

fn pt(x: f64, y: f64) -> Point {
    Point { x, y }
}

/// A box's size and the shape's margins inside it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NodeSize {
    pub(crate) width: f64,
    pub(crate) height: f64,
    /// Horizontal room at the top and bottom where no edge may attach (slanted sides).
    pub(crate) inset: f64,
    /// How far the shape's side is inside the box at mid height.
    pub(crate) side_inset: f64,
}

/// An edge to draw; `thickness` is its stroke width (edges keep room for it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EdgeSpec {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) thickness: f64,
}

/// A placed box, by its top-left corner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub(crate) x: f64,
    pub(crate) y: f64,
    pub(crate) w: f64,
    pub(crate) h: f64,
}

impl Rect {
    /// True when the two boxes share any area.
    pub(crate) fn overlaps(&self, other: &Rect) -> bool {
        self.x < other.x + other.w
            && other.x < self.x + self.w
            && self.y < other.y + other.h
            && other.y < self.y + self.h
    }
}

/// How an edge is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteKind {
    /// Down the layers, into the target's top.
    Down,
    /// A back edge: out of the source's side, up a lane beside the drawing, into the
    /// target's side.
    Side,
    /// From a node to itself.
    Loop,
}

/// Where a label is put relative to its spot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// The label is centred on the spot.
    Middle,
    /// The label starts at the spot.
    Start,
    /// The label ends at the spot.
    End,
}

/// An edge as drawn: cubic segments from the source to the arrowhead's base, then the
/// arrowhead.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Route {
    pub(crate) kind: RouteKind,
    /// Each segment: start, two control points, end; each starts where the last ended.
    pub(crate) segments: Vec<[Point; 4]>,
    /// The arrowhead's tip, on the target's outline.
    pub(crate) tip: Point,
    /// Places for the label, best first.
    pub(crate) label_spots: Vec<(Point, Anchor)>,
}

impl Route {
    /// The route as an SVG path (`d` attribute), coordinates to one decimal.
    pub(crate) fn svg_path(&self) -> String {
        let mut d = String::new();
        for (i, [a, b, c, e]) in self.segments.iter().enumerate() {
            if i == 0 {
                d.push_str(&format!("M{:.1} {:.1}", a.x, a.y));
            }
            d.push_str(&format!(
                " C{:.1} {:.1} {:.1} {:.1} {:.1} {:.1}",
                b.x, b.y, c.x, c.y, e.x, e.y
            ));
        }
        d
    }

    /// The unit direction the route arrives in at its tip.
    pub(crate) fn arrival(&self) -> Point {
        let Some(last) = self.segments.last() else {
            return pt(0.0, 1.0);
        };
        let from = if distance(last[2], last[3]) > 0.01 {
            last[2]
        } else {
            last[0]
        };
        let (dx, dy) = (self.tip.x - from.x, self.tip.y - from.y);
        let len = (dx * dx + dy * dy).sqrt();
        if len < 1e-9 {
            pt(0.0, 1.0)
        } else {
            pt(dx / len, dy / len)
        }
    }
}

fn distance(a: Point, b: Point) -> f64 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}

/// The drawing: a box per node and a route per edge (both in input order), and the size.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    pub(crate) boxes: Vec<Rect>,
    pub(crate) routes: Vec<Route>,
    pub(crate) width: f64,
    pub(crate) height: f64,
}

/// Length of an arrowhead for an edge of `thickness`.
pub(crate) fn arrow_length(thickness: f64) -> f64 {
    8.0 + thickness * 0.7
}

/// One slot of a layer: a node, or a long edge passing through.
#[derive(Debug, Clone, Copy)]
enum Item {
    Node(usize),
    /// Edge index and the layer it passes.
    Pass(usize),
}

/// A link between items of adjacent layers: `upper` in layer l, `lower` in l + 1.
#[derive(Debug, Clone, Copy)]
struct Link {
    upper: usize,
    lower: usize,
    edge: usize,
}

/// Which end of a box an edge attaches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attach {
    /// A link between adjacent layers, by index.
    Link(usize),
    /// A side edge, by edge index.
    Side(usize),
}

/// Lays out `nodes` and `edges`; node 0 is the entry, where layering starts.
pub(crate) fn layout(nodes: &[NodeSize], edges: &[EdgeSpec]) -> Layout {
    let n = nodes.len();
    let valid = |e: &EdgeSpec| e.from < n && e.to < n;
    let back = back_edges(n, edges);
    let layer = layers(n, edges, &back);
    let layer_count = layer.iter().copied().max().map_or(0, |m| m + 1);
    // Drawn down the layers when the target is lower, else round the side.
    let side: Vec<bool> = edges
        .iter()
        .map(|e| valid(e) && e.from != e.to && layer[e.to] <= layer[e.from])
        .collect();

    // Items: nodes first, then one per layer a long edge passes.
    let mut items: Vec<Item> = (0..n).map(Item::Node).collect();
    let mut item_layer: Vec<usize> = layer.clone();
    let mut links: Vec<Link> = Vec::new();
    for (i, e) in edges.iter().enumerate() {
        if !valid(e) || e.from == e.to || side[i] {
            continue;
        }
        let mut upper = e.from;
        for l in layer[e.from] + 1..layer[e.to] {
            items.push(Item::Pass(i));
            item_layer.push(l);
            let lower = items.len() - 1;
            links.push(Link {
                upper,
                lower,
                edge: i,
            });
            upper = lower;
        }
        links.push(Link {
            upper,
            lower: e.to,
            edge: i,
        });
    }
    let width_of = |item: usize| -> f64 {
        match items[item] {
            Item::Node(v) => nodes[v].width,
            Item::Pass(e) => edges[e].thickness + 4.0,
        }
    };
    // A self-loop needs room on its node's right.
    let mut loop_room = vec![0.0; n];
    for e in edges.iter().filter(|e| valid(e) && e.from == e.to) {
        loop_room[e.from] = LOOP_REACH + e.thickness;
    }
    let right_room = |item: usize| match items[item] {
        Item::Node(v) => loop_room[v],
        Item::Pass(_) => 0.0,
    };

    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layer_count];
    for (item, &l) in item_layer.iter().enumerate() {
        rows[l].push(item);
    }
    let ups: Vec<Vec<usize>> = neighbours(items.len(), &links, true);
    let downs: Vec<Vec<usize>> = neighbours(items.len(), &links, false);
    order_rows(&mut rows, &ups, &downs, &links, &item_layer);

    // Vertical placement: each layer's band as tall as its tallest box, boxes centred.
    let mut band_top = vec![0.0; layer_count];
    let mut band_height = vec![0.0; layer_count];
    let mut y = MARGIN;
    for l in 0..layer_count {
        let tallest = rows[l]
            .iter()
            .filter_map(|&item| match items[item] {
                Item::Node(v) => Some(nodes[v].height),
                Item::Pass(_) => None,
            })
            .fold(0.0, f64::max);
        band_top[l] = y;
        band_height[l] = tallest.max(20.0);
        y += band_height[l] + LAYER_GAP;
    }

    let x = place_rows(
        &rows,
        &ups,
        &downs,
        &|item| width_of(item),
        &right_room,
        &items,
    );

    let boxes: Vec<Rect> = (0..n)
        .map(|v| {
            let l = layer[v];
            Rect {
                x: x[v] - nodes[v].width / 2.0,
                y: band_top[l] + (band_height[l] - nodes[v].height) / 2.0,
                w: nodes[v].width,
                h: nodes[v].height,
            }
        })
        .collect();

    // Side lanes: right of everything in the layers an edge spans, or left, whichever
    // side its ends are nearer; each lane outside those already taken over that span.
    let centre = {
        let (lo, hi) = (0..items.len()).fold((f64::MAX, f64::MIN), |(lo, hi), item| {
            (
                lo.min(x[item] - width_of(item) / 2.0),
                hi.max(x[item] + width_of(item) / 2.0),
            )
        });
        if lo <= hi { (lo + hi) / 2.0 } else { 0.0 }
    };
    let extent = |l: usize, right: bool| -> f64 {
        rows[l]
            .iter()
            .map(|&item| {
                if right {
                    x[item] + width_of(item) / 2.0 + right_room(item)
                } else {
                    x[item] - width_of(item) / 2.0
                }
            })
            .fold(if right { f64::MIN } else { f64::MAX }, |a, b| {
                if right { a.max(b) } else { a.min(b) }
            })
    };
    let mut taken: Vec<(bool, usize, usize, f64)> = Vec::new();
    let mut lane_of: Vec<Option<(bool, f64, usize)>> = vec![None; edges.len()];
    let mut side_order: Vec<usize> = (0..edges.len()).filter(|&i| side[i]).collect();
    side_order.sort_by_key(|&i| {
        (
            layer[edges[i].from] - layer[edges[i].to],
            edges[i].from,
            edges[i].to,
        )
    });
    for (rank, &i) in side_order.iter().enumerate() {
        let e = &edges[i];
        let (lo, hi) = (layer[e.to], layer[e.from]);
        let right = (x[e.from] + x[e.to]) / 2.0 >= centre;
        let step = LANE_GAP + e.thickness / 2.0;
        let mut lane = (lo..=hi).map(|l| extent(l, right)).fold(
            if right { f64::MIN } else { f64::MAX },
            |a, b| {
                if right { a.max(b) } else { a.min(b) }
            },
        );
        lane = if right { lane + step } else { lane - step };
        for &(r, l0, l1, at) in &taken {
            if r == right && l0 <= hi && lo <= l1 {
                lane = if right {
                    lane.max(at + step)
                } else {
                    lane.min(at - step)
                };
            }
        }
        taken.push((right, lo, hi, lane));
        lane_of[i] = Some((right, lane, rank));
    }

    // Ports on the bottom and top of each box, ordered by where the other end is.
    let mut bottom_port = vec![0.0; links.len()];
    let mut top_port = vec![0.0; links.len()];
    let mut side_bottom = vec![0.0; edges.len()];
    let mut side_top = vec![0.0; edges.len()];
    let far_x = |i: usize| lane_of[i].map_or(0.0, |(_, lane, _)| lane);
    for v in 0..n {
        let mut out: Vec<(f64, usize, Attach)> = Vec::new();
        let mut inc: Vec<(f64, usize, Attach)> = Vec::new();
        for (k, l) in links.iter().enumerate() {
            if l.upper == v {
                out.push((x[l.lower], l.edge, Attach::Link(k)));
            }
            if l.lower == v {
                inc.push((x[l.upper], l.edge, Attach::Link(k)));
            }
        }
        for (i, e) in edges.iter().enumerate().filter(|&(i, _)| side[i]) {
            if e.from == v {
                out.push((far_x(i), i, Attach::Side(i)));
            }
            if e.to == v {
                inc.push((far_x(i), i, Attach::Side(i)));
            }
        }
        for (list, bottom) in [(&mut out, true), (&mut inc, false)] {
            list.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let widths: Vec<f64> = list.iter().map(|(_, e, _)| edges[*e].thickness).collect();
            for (at, (_, _, attach)) in spread_ports(&widths, &boxes[v], &nodes[v])
                .into_iter()
                .zip(list.iter())
            {
                match (attach, bottom) {
                    (Attach::Link(k), true) => bottom_port[*k] = at,
                    (Attach::Link(k), false) => top_port[*k] = at,
                    (Attach::Side(i), true) => side_bottom[*i] = at,
                    (Attach::Side(i), false) => side_top[*i] = at,
                }
            }
        }
    }

    let mut routes: Vec<Route> = Vec::with_capacity(edges.len());
    for (i, e) in edges.iter().enumerate() {
        if !valid(e) {
            routes.push(Route {
                kind: RouteKind::Down,
                segments: Vec::new(),
                tip: pt(0.0, 0.0),
                label_spots: Vec::new(),
            });
            continue;
        }
        let alen = arrow_length(e.thickness);
        if e.from == e.to {
            // A bulge on the right, out above the middle and back in below it.
            let b = &boxes[e.from];
            let sx = b.x + b.w - nodes[e.from].side_inset;
            let mid = b.y + b.h / 2.0;
            let (y0, y1) = (mid - b.h * 0.22, mid + b.h * 0.22);
            let reach = sx + LOOP_REACH;
            let end = pt(sx + alen, y1);
            routes.push(Route {
                kind: RouteKind::Loop,
                segments: vec![[
                    pt(sx - 2.0, y0),
                    pt(reach, y0 - 12.0),
                    pt(reach, y1 + 12.0),
                    end,
                ]],
                tip: pt(sx, y1),
                label_spots: vec![(pt(reach + 4.0, mid), Anchor::Start)],
            });
            continue;
        }
        if let Some((right, lane, rank)) = lane_of[i] {
            routes.push(side_route(SideRoute {
                start: pt(side_bottom[i], boxes[e.from].y + boxes[e.from].h - 2.0),
                below: band_top[layer[e.from]]
                    + band_height[layer[e.from]]
                    + LAYER_GAP * 0.2
                    + (rank % 4) as f64 * 7.0,
                lane,
                above: band_top[layer[e.to]] - LAYER_GAP * 0.45 - (rank % 4) as f64 * 7.0,
                tip: pt(side_top[i], boxes[e.to].y),
                right,
                thickness: e.thickness,
            }));
            continue;
        }
        // Down the layers through the edge's passes.
        let chain: Vec<usize> = (0..links.len()).filter(|&k| links[k].edge == i).collect();
        let (Some(&first), Some(&last_link)) = (chain.first(), chain.last()) else {
            routes.push(Route {
                kind: RouteKind::Down,
                segments: Vec::new(),
                tip: pt(0.0, 0.0),
                label_spots: Vec::new(),
            });
            continue;
        };
        let mut segments: Vec<[Point; 4]> = Vec::new();
        let mut spots: Vec<(Point, Anchor)> = Vec::new();
        // Straight down out of a box shorter than its layer, and straight into one, so
        // the curves stay between the layers.
        let source = &boxes[e.from];
        let mut from = pt(bottom_port[first], source.y + source.h - 2.0);
        let band_bottom = band_top[layer[e.from]] + band_height[layer[e.from]];
        if source.y + source.h < band_bottom {
            let below = pt(from.x, band_bottom);
            segments.push([from, from, below, below]);
            from = below;
        }
        let target = &boxes[e.to];
        let arrow_base = pt(top_port[last_link], target.y - alen);
        let band_entry = band_top[layer[e.to]];
        for (step, &k) in chain.iter().enumerate() {
            let last = step + 1 == chain.len();
            let to = if last {
                pt(arrow_base.x, arrow_base.y.min(band_entry))
            } else {
                let l = item_layer[links[k].lower];
                pt(x[links[k].lower], band_top[l])
            };
            let dy = (to.y - from.y).max(1.0) * 0.5;
            let seg = [from, pt(from.x, from.y + dy), pt(to.x, to.y - dy), to];
            for t in [0.5, 0.36, 0.64, 0.24, 0.76] {
                spots.push((bezier(&seg, t), Anchor::Middle));
            }
            segments.push(seg);
            if !last {
                let l = item_layer[links[k].lower];
                let below = pt(to.x, band_top[l] + band_height[l]);
                segments.push([to, to, below, below]);
                from = below;
            } else if to.y < arrow_base.y {
                segments.push([to, to, arrow_base, arrow_base]);
            }
        }
        routes.push(Route {
            kind: RouteKind::Down,
            segments,
            tip: pt(top_port[last_link], boxes[e.to].y),
            label_spots: spots,
        });
    }

    // Shift so the drawing starts at the margins, and measure it.
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    let mut grow = |p: Point| {
        x0 = x0.min(p.x);
        y0 = y0.min(p.y);
        x1 = x1.max(p.x);
        y1 = y1.max(p.y);
    };
    for (v, b) in boxes.iter().enumerate() {
        grow(pt(b.x, b.y));
        grow(pt(b.x + b.w + loop_room[v], b.y + b.h));
    }
    for r in &routes {
        for s in &r.segments {
            s.iter().for_each(|&p| grow(p));
        }
    }
    if x0 > x1 {
        (x0, y0, x1, y1) = (0.0, 0.0, 0.0, 0.0);
    }
    let (dx, dy) = (MARGIN - x0, MARGIN - y0);
    let moved = |p: Point| pt(p.x + dx, p.y + dy);
    let boxes = boxes
        .into_iter()
        .map(|b| Rect {
            x: b.x + dx,
            y: b.y + dy,
            ..b
        })
        .collect();
    for r in &mut routes {
        for s in &mut r.segments {
            for p in s.iter_mut() {
                *p = moved(*p);
            }
        }
        r.tip = moved(r.tip);
        for (p, _) in &mut r.label_spots {
            *p = moved(*p);
        }
    }
    Layout {
        boxes,
        routes,
        width: x1 - x0 + 2.0 * MARGIN,
        height: y1 - y0 + 2.0 * MARGIN,
    }
}

/// Where a side edge goes: down out of its source into the gap below (`below`), along
/// it to its lane, up the lane to the gap above its target (`above`), along it and down
/// into the target's top.
struct SideRoute {
    start: Point,
    below: f64,
    lane: f64,
    above: f64,
    tip: Point,
    right: bool,
    thickness: f64,
}

fn side_route(s: SideRoute) -> Route {
    let line = |a: Point, b: Point| [a, a, b, b];
    // A rounded corner from `a` to `b`, turning at (`b.x`, `a.y`) or (`a.x`, `b.y`).
    let corner = |a: Point, b: Point, horizontal_first: bool| {
        let turn = if horizontal_first {
            pt(b.x, a.y)
        } else {
            pt(a.x, b.y)
        };
        [a, turn, turn, b]
    };
    let dir = if s.right { 1.0 } else { -1.0 };
    let alen = arrow_length(s.thickness);
    let end = pt(s.tip.x, s.tip.y - alen);
    let r = 12.0_f64
        .min((s.below - s.start.y).max(0.0))
        .min((end.y - s.above).max(0.0))
        .min((s.below - s.above).abs() / 2.0)
        .min((s.lane - s.start.x).abs() / 2.0)
        .min((s.lane - end.x).abs() / 2.0);
    let mut segments = Vec::new();
    let a = pt(s.start.x, s.below - r);
    segments.push(line(s.start, a));
    let b = pt(s.start.x + dir * r, s.below);
    segments.push(corner(a, b, false));
    let c = pt(s.lane - dir * r, s.below);
    segments.push(line(b, c));
    let d = pt(s.lane, s.below - r);
    segments.push(corner(c, d, true));
    let e = pt(s.lane, s.above + r);
    segments.push(line(d, e));
    let f = pt(s.lane - dir * r, s.above);
    segments.push(corner(e, f, false));
    let g = pt(end.x + dir * r, s.above);
    segments.push(line(f, g));
    let h = pt(end.x, s.above + r);
    segments.push(corner(g, h, true));
    segments.push(line(h, end));
    let anchor = if s.right { Anchor::Start } else { Anchor::End };
    let beside = s.lane + dir * (s.thickness / 2.0 + 4.0);
    Route {
        kind: RouteKind::Side,
        segments,
        tip: s.tip,
        label_spots: vec![
            (pt(beside, (s.below + s.above) / 2.0), anchor),
            (pt(beside, (s.below * 2.0 + s.above) / 3.0), anchor),
            (pt(beside, (s.below + s.above * 2.0) / 3.0), anchor),
        ],
    }
}

/// A point on a cubic segment.
fn bezier(s: &[Point; 4], t: f64) -> Point {
    let u = 1.0 - t;
    let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
    pt(
        a * s[0].x + b * s[1].x + c * s[2].x + d * s[3].x,
        a * s[0].y + b * s[1].y + c * s[2].y + d * s[3].y,
    )
}

/// Where ports of strokes `widths` (ordered left to right) attach along `b`: side by
/// side, centred, squeezed into the box's flat part when they do not fit.
fn spread_ports(widths: &[f64], b: &Rect, size: &NodeSize) -> Vec<f64> {
    const GAP: f64 = 5.0;
    if widths.is_empty() {
        return Vec::new();
    }
    let total: f64 = widths.iter().sum::<f64>() + GAP * (widths.len() - 1) as f64;
    let room = (b.w - 2.0 * size.inset).max(0.0);
    let scale = if total > room && total > 0.0 {
        room / total
    } else {
        1.0
    };
    let mut at = b.x + b.w / 2.0 - total * scale / 2.0;
    widths
        .iter()
        .map(|w| {
            let x = at + w * scale / 2.0;
            at += (w + GAP) * scale;
            x
        })
        .collect()
}

/// Which edges point back up: a node order that keeps the heaviest edges pointing
/// forward (the greedy cycle-breaking of Eades, Lin and Smyth, weighted by thickness:
/// sinks go last, sources first, else the node whose outgoing weight most exceeds its
/// incoming), node 0 first; edges against that order are back edges. Ties go to the
/// lowest index, so the order depends only on the input.
fn back_edges(n: usize, edges: &[EdgeSpec]) -> Vec<bool> {
    let usable = |e: &EdgeSpec| e.from < n && e.to < n && e.from != e.to;
    let mut left = vec![true; n];
    let mut remaining = n;
    let mut head: Vec<usize> = Vec::with_capacity(n);
    let mut tail: Vec<usize> = Vec::new();
    // Weights in and out of each node over the nodes left.
    let weights = |left: &[bool], v: usize| -> (f64, f64, bool, bool) {
        let (mut win, mut wout, mut any_in, mut any_out) = (0.0, 0.0, false, false);
        for e in edges.iter().filter(|e| usable(e)) {
            if e.to == v && left[e.from] {
                win += e.thickness.max(0.1);
                any_in = true;
            }
            if e.from == v && left[e.to] {
                wout += e.thickness.max(0.1);
                any_out = true;
            }
        }
        (win, wout, any_in, any_out)
    };
    if n > 0 {
        left[0] = false;
        remaining -= 1;
        head.push(0);
    }
    while remaining > 0 {
        let mut moved = false;
        // Sinks, last to first.
        while let Some(v) = (0..n).find(|&v| left[v] && !weights(&left, v).3) {
            left[v] = false;
            remaining -= 1;
            tail.push(v);
            moved = true;
        }
        // Sources, in order.
        while let Some(v) = (0..n).find(|&v| left[v] && !weights(&left, v).2) {
            left[v] = false;
            remaining -= 1;
            head.push(v);
            moved = true;
        }
        if remaining == 0 || moved {
            continue;
        }
        let mut best: Option<(usize, f64)> = None;
        for v in (0..n).filter(|&v| left[v]) {
            let (win, wout, _, _) = weights(&left, v);
            let delta = wout - win;
            if best.is_none_or(|(_, d)| delta > d + 1e-9) {
                best = Some((v, delta));
            }
        }
        if let Some((v, _)) = best {
            left[v] = false;
            remaining -= 1;
            head.push(v);
        }
    }
    let mut rank = vec![0usize; n];
    for (i, &v) in head.iter().chain(tail.iter().rev()).enumerate() {
        rank[v] = i;
    }
    edges
        .iter()
        .map(|e| usable(e) && rank[e.from] > rank[e.to])
        .collect()
}

/// Each node's layer: the longest path to it over the edges that are not back edges.
fn layers(n: usize, edges: &[EdgeSpec], back: &[bool]) -> Vec<usize> {
    let mut indegree = vec![0usize; n];
    let mut out_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, e) in edges.iter().enumerate() {
        if e.from < n && e.to < n && e.from != e.to && !back[i] {
            indegree[e.to] += 1;
            out_edges[e.from].push(e.to);
        }
    }
    let mut layer = vec![0usize; n];
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&v| indegree[v] == 0).collect();
    while let Some(v) = ready.pop_first() {
        for &to in &out_edges[v] {
            layer[to] = layer[to].max(layer[v] + 1);
            indegree[to] -= 1;
            if indegree[to] == 0 {
                ready.insert(to);
            }
        }
    }
    layer
}

/// Per item, the items linked to it above (`up`) or below.
fn neighbours(count: usize, links: &[Link], up: bool) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); count];
    for l in links {
        if up {
            out[l.lower].push(l.upper);
        } else {
            out[l.upper].push(l.lower);
        }
    }
    out
}

/// Orders each layer by barycenter sweeps, keeping the order with the fewest crossings.
fn order_rows(
    rows: &mut [Vec<usize>],
    ups: &[Vec<usize>],
    downs: &[Vec<usize>],
    links: &[Link],
    item_layer: &[usize],
) {
    let mut pos = vec![0.0; item_layer.len()];
    let set_pos = |rows: &[Vec<usize>], pos: &mut Vec<f64>| {
        for row in rows {
            for (i, &item) in row.iter().enumerate() {
                pos[item] = i as f64;
            }
        }
    };
    set_pos(rows, &mut pos);
    let mut best = rows.to_vec();
    let mut best_crossings = crossings(rows, links, item_layer, &pos);
    for sweep in 0..SWEEPS {
        let down = sweep % 2 == 0;
        let order: Vec<usize> = if down {
            (1..rows.len()).collect()
        } else {
            (0..rows.len().saturating_sub(1)).rev().collect()
        };
        for l in order {
            let by = if down { ups } else { downs };
            let mut keyed: Vec<(f64, usize)> = rows[l]
                .iter()
                .map(|&item| {
                    let near = &by[item];
                    let key = if near.is_empty() {
                        pos[item]
                    } else {
                        near.iter().map(|&o| pos[o]).sum::<f64>() / near.len() as f64
                    };
                    (key, item)
                })
                .collect();
            // Stable: ties keep the current order.
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            rows[l] = keyed.into_iter().map(|(_, item)| item).collect();
            for (i, &item) in rows[l].iter().enumerate() {
                pos[item] = i as f64;
            }
        }
        let c = crossings(rows, links, item_layer, &pos);
        if c < best_crossings {
            best_crossings = c;
            best = rows.to_vec();
        }
    }
    rows.clone_from_slice(&best);
}

/// Pairs of links between the same two layers that cross.
fn crossings(rows: &[Vec<usize>], links: &[Link], item_layer: &[usize], pos: &[f64]) -> usize {
    let mut by_layer: Vec<Vec<(f64, f64)>> = vec![Vec::new(); rows.len()];
    for l in links {
        by_layer[item_layer[l.upper]].push((pos[l.upper], pos[l.lower]));
    }
    let mut count = 0;
    for pairs in &by_layer {
        for (i, a) in pairs.iter().enumerate() {
            for b in &pairs[i + 1..] {
                if (a.0 < b.0 && a.1 > b.1) || (a.0 > b.0 && a.1 < b.1) {
                    count += 1;
                }
            }
        }
    }
    count
}

/// Centre x of every item: rounds that move each item towards the mean of its neighbours,
/// each layer then pushed apart to keep its order and gaps (least squares, by pooling
/// adjacent violators).
fn place_rows(
    rows: &[Vec<usize>],
    ups: &[Vec<usize>],
    downs: &[Vec<usize>],
    width_of: &dyn Fn(usize) -> f64,
    right_room: &dyn Fn(usize) -> f64,
    items: &[Item],
) -> Vec<f64> {
    let count = items.len();
    let mut x = vec![0.0; count];
    let gap_between = |a: usize, b: usize| -> f64 {
        let gap = match (items[a], items[b]) {
            (Item::Node(_), Item::Node(_)) => NODE_GAP,
            _ => DUMMY_GAP,
        };
        width_of(a) / 2.0 + right_room(a) + gap + width_of(b) / 2.0
    };
    for row in rows {
        let mut at = 0.0;
        for (i, &item) in row.iter().enumerate() {
            if i > 0 {
                at += gap_between(row[i - 1], item);
            }
            x[item] = at;
        }
    }
    // Centre each row on the widest.
    let span = |row: &Vec<usize>, x: &[f64]| -> (f64, f64) {
        match (row.first(), row.last()) {
            (Some(&a), Some(&b)) => (x[a], x[b]),
            _ => (0.0, 0.0),
        }
    };
    let widest = rows
        .iter()
        .map(|r| {
            let (a, b) = span(r, &x);
            b - a
        })
        .fold(0.0, f64::max);
    for row in rows {
        let (a, b) = span(row, &x);
        let shift = (widest - (b - a)) / 2.0 - a;
        for &item in row {
            x[item] += shift;
        }
    }
    let is_pass = |item: usize| matches!(items[item], Item::Pass(_));
    for round in 0..ROUNDS {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..rows.len()).collect()
        } else {
            (0..rows.len()).rev().collect()
        };
        for l in order {
            let row = &rows[l];
            let mut want = Vec::with_capacity(row.len());
            let mut weight = Vec::with_capacity(row.len());
            for &item in row {
                let near: Vec<usize> = ups[item].iter().chain(&downs[item]).copied().collect();
                if near.is_empty() {
                    want.push(x[item]);
                    weight.push(0.5);
                } else {
                    // Long edges pull harder on each other, to run straight.
                    let mut sum = 0.0;
                    let mut total = 0.0;
                    for &o in &near {
                        let w = if is_pass(item) && is_pass(o) {
                            12.0
                        } else {
                            1.0
                        };
                        sum += w * x[o];
                        total += w;
                    }
                    want.push(sum / total);
                    weight.push(if is_pass(item) { 2.0 } else { 1.0 });
                }
            }
            let gaps: Vec<f64> = row.windows(2).map(|w| gap_between(w[0], w[1])).collect();
            let placed = fit_in_order(&want, &weight, &gaps);
            for (&item, v) in row.iter().zip(placed) {
                x[item] = v;
            }
        }
    }
    x
}

/// The positions closest to `want` (weighted least squares) that keep their order with
/// at least `gaps[i]` between the i-th and the next.
fn fit_in_order(want: &[f64], weight: &[f64], gaps: &[f64]) -> Vec<f64> {
    let mut offset = vec![0.0; want.len()];
    for i in 1..want.len() {
        offset[i] = offset[i - 1] + gaps[i - 1];
    }
    // Blocks of (weighted sum, weight, members).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
    for i in 0..want.len() {
        let t = want[i] - offset[i];
        blocks.push((t * weight[i], weight[i], 1));
        while blocks.len() > 1 {
            let last = blocks[blocks.len() - 1];
            let prev = blocks[blocks.len() - 2];
            if prev.0 / prev.1 > last.0 / last.1 {
                blocks.pop();
                let merged = (prev.0 + last.0, prev.1 + last.1, prev.2 + last.2);
                if let Some(b) = blocks.last_mut() {
                    *b = merged;
                }
            } else {
                break;
            }
        }
    }
    let mut out = Vec::with_capacity(want.len());
    for (sum, w, members) in blocks {
        for _ in 0..members {
            let i = out.len();
            out.push(sum / w + offset[i]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(w: f64, h: f64) -> NodeSize {
        NodeSize {
            width: w,
            height: h,
            inset: 10.0,
            side_inset: 0.0,
        }
    }

    fn edge(from: usize, to: usize, thickness: f64) -> EdgeSpec {
        EdgeSpec {
            from,
            to,
            thickness,
        }
    }

    /// A graph like a phone menu: fan-out, a long edge, a cycle, a loop, a sink.
    fn sample() -> (Vec<NodeSize>, Vec<EdgeSpec>) {
        let nodes = vec![
            size(44.0, 44.0),
            size(160.0, 60.0),
            size(220.0, 70.0),
            size(120.0, 60.0),
            size(180.0, 60.0),
            size(140.0, 60.0),
            size(200.0, 60.0),
            size(90.0, 30.0),
        ];
        let edges = vec![
            edge(0, 1, 8.0),
            edge(1, 2, 6.0),
            edge(1, 6, 1.5),
            edge(2, 3, 3.0),
            edge(2, 4, 2.0),
            edge(2, 6, 4.0),
            edge(2, 2, 1.5),
            edge(3, 5, 2.0),
            edge(4, 7, 1.5),
            edge(5, 6, 2.0),
            edge(6, 5, 1.5),
            edge(6, 1, 1.5),
            edge(6, 7, 3.0),
        ];
        (nodes, edges)
    }

    #[test]
    fn boxes_do_not_overlap_and_keep_their_sizes() {
        let (nodes, edges) = sample();
        let l = layout(&nodes, &edges);
        assert_eq!(l.boxes.len(), nodes.len());
        for (b, s) in l.boxes.iter().zip(&nodes) {
            assert_eq!((b.w, b.h), (s.width, s.height));
            assert!(b.x >= 0.0 && b.y >= 0.0, "{b:?}");
            assert!(
                b.x + b.w <= l.width && b.y + b.h <= l.height,
                "{b:?} in {l:?}"
            );
        }
        for (i, a) in l.boxes.iter().enumerate() {
            for (j, b) in l.boxes.iter().enumerate().skip(i + 1) {
                assert!(!a.overlaps(b), "{i} {a:?} overlaps {j} {b:?}");
            }
        }
    }

    #[test]
    fn every_edge_is_drawn_into_its_target() {
        let (nodes, edges) = sample();
        let l = layout(&nodes, &edges);
        assert_eq!(l.routes.len(), edges.len());
        for (e, r) in edges.iter().zip(&l.routes) {
            assert!(!r.segments.is_empty(), "{e:?}");
            for pair in r.segments.windows(2) {
                assert_eq!(pair[0][3], pair[1][0], "{e:?}: segments join");
            }
            let target = l.boxes[e.to];
            let on_outline = (r.tip.x >= target.x - 0.01 && r.tip.x <= target.x + target.w + 0.01)
                && (r.tip.y >= target.y - 0.01 && r.tip.y <= target.y + target.h + 0.01);
            assert!(on_outline, "{e:?} ends at {:?}, target {target:?}", r.tip);
            let source = l.boxes[e.from];
            let start = r.segments[0][0];
            assert!(
                start.x >= source.x - 3.0
                    && start.x <= source.x + source.w + 3.0
                    && start.y >= source.y - 3.0
                    && start.y <= source.y + source.h + 3.0,
                "{e:?} starts at {start:?}, source {source:?}"
            );
            assert!(!r.label_spots.is_empty(), "{e:?}");
            assert!(r.svg_path().starts_with('M'), "{e:?}");
            for s in &r.segments {
                for p in s {
                    assert!(p.x.is_finite() && p.y.is_finite(), "{e:?}");
                }
            }
        }
    }

    #[test]
    fn layers_follow_the_longest_path_and_back_edges_go_round_the_side() {
        let (nodes, edges) = sample();
        let l = layout(&nodes, &edges);
        let kinds: Vec<RouteKind> = l.routes.iter().map(|r| r.kind).collect();
        // 6 -> 5 and 6 -> 1 close cycles; 2 -> 2 is a loop.
        assert_eq!(kinds[10], RouteKind::Side);
        assert_eq!(kinds[11], RouteKind::Side);
        assert_eq!(kinds[6], RouteKind::Loop);
        assert!(kinds.iter().filter(|k| **k == RouteKind::Down).count() == 10);
        // Down edges go down; 1 -> 6 is longer than 5 -> 6, so 6 is below 5.
        let top = |v: usize| l.boxes[v].y;
        for (e, r) in edges.iter().zip(&l.routes) {
            if r.kind == RouteKind::Down {
                assert!(top(e.to) > top(e.from), "{e:?}");
                assert!(r.arrival().y > 0.9, "{e:?} arrives downwards");
            }
        }
        assert!(top(6) > top(5) && top(5) > top(3) && top(3) > top(2));
        // A side lane is beside every box of the layers it spans; the edge comes down
        // into its target like the others.
        for i in [10, 11] {
            let lane = l.routes[i].segments[4][0].x;
            assert_eq!(lane, l.routes[i].segments[4][3].x, "the lane is vertical");
            let (a, b) = (top(edges[i].to), top(edges[i].from));
            for bx in l.boxes.iter().filter(|bx| bx.y >= a && bx.y <= b) {
                assert!(
                    lane > bx.x + bx.w || lane < bx.x,
                    "lane {lane} crosses {bx:?}"
                );
            }
            assert!(l.routes[i].arrival().y > 0.9, "enters from above");
        }
    }

    #[test]
    fn edges_pass_no_box_but_their_own() {
        let (nodes, edges) = sample();
        let l = layout(&nodes, &edges);
        for (e, r) in edges.iter().zip(&l.routes) {
            for s in &r.segments {
                for k in 0..=20 {
                    let p = bezier(s, f64::from(k) / 20.0);
                    for (v, b) in l.boxes.iter().enumerate() {
                        if v == e.from || v == e.to {
                            continue;
                        }
                        let inside = p.x > b.x + 1.0
                            && p.x < b.x + b.w - 1.0
                            && p.y > b.y + 1.0
                            && p.y < b.y + b.h - 1.0;
                        assert!(!inside, "{e:?} passes through box {v} at {p:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_same_graph_gives_the_same_drawing() {
        let (nodes, edges) = sample();
        let a = layout(&nodes, &edges);
        let b = layout(&nodes, &edges);
        assert_eq!(a, b);
        let paths_a: Vec<String> = a.routes.iter().map(Route::svg_path).collect();
        let paths_b: Vec<String> = b.routes.iter().map(Route::svg_path).collect();
        assert_eq!(paths_a, paths_b);
    }

    #[test]
    fn barycenter_sweeps_untangle_a_crossing() {
        // 0 -> {1, 2}; 1 -> 4, 2 -> 3: listing 3 before 4 crosses unless reordered.
        let nodes = vec![
            size(40.0, 40.0),
            size(80.0, 40.0),
            size(80.0, 40.0),
            size(80.0, 40.0),
            size(80.0, 40.0),
        ];
        let edges = vec![
            edge(0, 1, 2.0),
            edge(0, 2, 2.0),
            edge(1, 4, 2.0),
            edge(2, 3, 2.0),
        ];
        let l = layout(&nodes, &edges);
        let cx = |v: usize| l.boxes[v].x + l.boxes[v].w / 2.0;
        assert_eq!(cx(1) < cx(2), cx(4) < cx(3), "1 and 4 on the same side");
    }

    #[test]
    fn ports_are_side_by_side_by_thickness() {
        let nodes = vec![size(200.0, 40.0), size(80.0, 40.0), size(80.0, 40.0)];
        let edges = vec![edge(0, 1, 10.0), edge(0, 2, 10.0)];
        let l = layout(&nodes, &edges);
        let (a, b) = (l.routes[0].segments[0][0].x, l.routes[1].segments[0][0].x);
        assert!((a - b).abs() >= 10.0, "{a} {b}");
    }

    proptest::proptest! {
        #[test]
        fn any_graph_lays_out_without_overlaps_and_with_every_edge(
            sizes in proptest::collection::vec((40.0f64..260.0, 24.0f64..90.0), 1..18),
            pairs in proptest::collection::vec((0usize..18, 0usize..18, 1.0f64..14.0), 0..40),
        ) {
            let nodes: Vec<NodeSize> = sizes.iter().map(|&(w, h)| size(w, h)).collect();
            let n = nodes.len();
            let mut edges: Vec<EdgeSpec> = Vec::new();
            for &(a, b, t) in &pairs {
                let (from, to) = (a % n, b % n);
                if !edges.iter().any(|e| e.from == from && e.to == to) {
                    edges.push(edge(from, to, t));
                }
            }
            let l = layout(&nodes, &edges);
            for (i, a) in l.boxes.iter().enumerate() {
                for b in l.boxes.iter().skip(i + 1) {
                    proptest::prop_assert!(!a.overlaps(b), "{a:?} overlaps {b:?}");
                }
            }
            proptest::prop_assert_eq!(l.routes.len(), edges.len());
            for (e, r) in edges.iter().zip(&l.routes) {
                proptest::prop_assert!(!r.segments.is_empty(), "{:?} not drawn", e);
                for s in &r.segments {
                    for k in 0..=16 {
                        let p = bezier(s, f64::from(k) / 16.0);
                        proptest::prop_assert!(p.x.is_finite() && p.y.is_finite());
                        for (v, b) in l.boxes.iter().enumerate() {
                            let inside = p.x > b.x + 1.0
                                && p.x < b.x + b.w - 1.0
                                && p.y > b.y + 1.0
                                && p.y < b.y + b.h - 1.0;
                            proptest::prop_assert!(
                                v == e.from || v == e.to || !inside,
                                "{:?} passes through box {} at {:?}", e, v, p
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn fitting_keeps_order_and_gaps() {
        let placed = fit_in_order(&[10.0, 0.0, 5.0], &[1.0, 1.0, 1.0], &[4.0, 4.0]);
        assert!(placed[1] - placed[0] >= 4.0 - 1e-9 && placed[2] - placed[1] >= 4.0 - 1e-9);
        // Unconstrained wants are met exactly.
        let free = fit_in_order(&[0.0, 50.0], &[1.0, 1.0], &[10.0]);
        assert_eq!(free, vec![0.0, 50.0]);
    }
}
