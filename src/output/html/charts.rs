//! The HTML report's charts, drawn as inline SVG by `plotters` (which
//! escapes its text for XML), each with a title and a description for
//! screen readers and a table of the numbers it shows.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use crate::util::escape::escape_terminal;

/// A chart, ready for the page.
#[derive(Debug, Serialize)]
pub struct Chart {
    pub id: &'static str,
    pub title: String,
    /// One sentence of what the chart shows, for its caption and for
    /// screen readers.
    pub description: String,
    /// The `<svg>` element; empty when there was nothing to draw.
    pub svg: String,
    /// The same numbers as a table: its header row and its rows.
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Colours, from the worst to the best, readable in grey on paper.
pub const SEVERITY_COLOURS: [RGBColor; 5] = [
    RGBColor(0xbd, 0xbd, 0xbd), // info
    RGBColor(0xfd, 0xd4, 0x9e), // low
    RGBColor(0xfc, 0x8d, 0x59), // medium
    RGBColor(0xd7, 0x30, 0x1f), // high
    RGBColor(0x7f, 0x00, 0x00), // critical
];

const FONT: &str = "sans-serif";
const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);

/// Text from the wire shortened for a chart label (the table beside the
/// chart has it whole); control characters made visible.
pub fn label(text: &str, max_chars: usize) -> String {
    let visible = escape_terminal(text.as_bytes());
    if visible.chars().count() <= max_chars {
        return visible;
    }
    let mut short: String = visible.chars().take(max_chars.saturating_sub(1)).collect();
    short.push('…');
    short
}

pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws on a fresh SVG canvas and returns the `<svg>` element, made
/// accessible: role="img", labelled by its title and described.
pub fn draw(
    id: &str,
    title: &str,
    description: &str,
    size: (u32, u32),
    paint: impl FnOnce(&Area<'_>) -> Result<(), String>,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        paint(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let Some(open_end) = svg.find('>') else { return Err("the SVG backend wrote no element".into()) };
    if !svg.starts_with("<svg ") {
        return Err("the SVG backend wrote no <svg> element first".into());
    }
    let head = format!(
        "<svg role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" class=\"chart\" {}><title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        &svg[5..open_end],
        super::escape(title),
        super::escape(description)
    );
    Ok(format!("{head}{}", &svg[open_end + 1..]))
}

fn fail(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Stacked bars over time: one bar per time bucket, one colour per series.
/// `buckets` holds each bucket's label and its count per series.
pub fn stacked_over_time(area: &Area<'_>, buckets: &[(String, Vec<u64>)], series: &[(&str, RGBColor)], y_desc: &str) -> Result<(), String> {
    let n = buckets.len().max(1);
    let top = buckets.iter().map(|(_, c)| c.iter().sum::<u64>()).max().unwrap_or(0).max(1);
    let (plot, key) = area.split_horizontally(area.dim_in_pixel().0.saturating_sub(LEGEND_WIDTH));
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .x_label_area_size(46)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..n as f64, 0f64..top as f64 * 1.05)
        .map_err(fail)?;
    let tick = |x: &f64| {
        let i = x.floor() as usize;
        if (*x - i as f64).abs() < 1e-9 {
            buckets.get(i).map(|(l, _)| l.clone()).unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(n.min(6) + 1)
        .x_label_formatter(&tick)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .y_desc(y_desc)
        .label_style((FONT, 12).into_font().color(&TEXT))
        .draw()
        .map_err(fail)?;
    let drawn = stacked(buckets, series, |i, from, to, colour| {
        chart.draw_series(std::iter::once(Rectangle::new([(i as f64 + 0.08, from as f64), (i as f64 + 0.92, to as f64)], colour.filled()))).map(|_| ())
    })?;
    legend(&key, &drawn)
}

/// Stacks each row's counts, series after series: `bar` draws row i from
/// `from` to `to` in a series' colour. Returns the series drawn (those with
/// a count), for the legend.
fn stacked<'s, E: std::fmt::Display>(
    rows: &[(String, Vec<u64>)],
    series: &[(&'s str, RGBColor)],
    mut bar: impl FnMut(usize, u64, u64, RGBColor) -> Result<(), E>,
) -> Result<Vec<(&'s str, RGBColor)>, String> {
    let mut base = vec![0u64; rows.len()];
    let mut drawn = Vec::new();
    for (k, (name, colour)) in series.iter().enumerate() {
        let mut any = false;
        for (i, (_, counts)) in rows.iter().enumerate() {
            let v = counts.get(k).copied().unwrap_or(0);
            if v > 0 {
                bar(i, base[i], base[i] + v, *colour).map_err(fail)?;
                base[i] += v;
                any = true;
            }
        }
        if any {
            drawn.push((*name, *colour));
        }
    }
    Ok(drawn)
}

/// Room on the right of a chart for its legend.
const LEGEND_WIDTH: u32 = 270;

/// A legend drawn in its own area: a swatch and a name per series.
pub fn legend(area: &Area<'_>, series: &[(&str, RGBColor)]) -> Result<(), String> {
    for (i, (name, colour)) in series.iter().enumerate() {
        let y = 20 + i as i32 * 20;
        area.draw(&Rectangle::new([(4, y - 6), (16, y + 6)], colour.filled())).map_err(fail)?;
        let style = (FONT, 12).into_font().color(&TEXT).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(label(name, 44), (22, y), style)).map_err(fail)?;
    }
    Ok(())
}

/// Horizontal stacked bars, one row per name; `counts` per series.
pub fn horizontal_bars(area: &Area<'_>, rows: &[(String, Vec<u64>)], series: &[(&str, RGBColor)], x_desc: &str) -> Result<(), String> {
    let n = rows.len().max(1) as i32;
    let top = rows.iter().map(|(_, c)| c.iter().sum::<u64>()).max().unwrap_or(0).max(1);
    let (plot, key) = area.split_horizontally(area.dim_in_pixel().0.saturating_sub(LEGEND_WIDTH / 2));
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(200)
        .build_cartesian_2d(0f64..top as f64 * 1.05, (0..n).into_segmented())
        .map_err(fail)?;
    let name = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => rows.get(*i as usize).map(|(l, _)| label(l, 30)).unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .y_labels(rows.len().max(1))
        .y_label_formatter(&name)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc(x_desc)
        .label_style((FONT, 12).into_font().color(&TEXT))
        .draw()
        .map_err(fail)?;
    let drawn = stacked(rows, series, |i, from, to, colour| {
        let i = i as i32;
        let bar = Rectangle::new([(from as f64, SegmentValue::Exact(i)), (to as f64, SegmentValue::Exact(i + 1))], colour.filled());
        chart.draw_series(std::iter::once(bar)).map(|_| ())
    })?;
    legend(&key, &drawn)
}

/// A grid of labelled cells: row names on the left, column names written
/// upwards above, each cell its colour and its number (blank when None).
pub struct Grid<'a> {
    pub row_names: &'a [String],
    pub column_names: &'a [String],
    pub cells: &'a [Vec<Option<(u64, RGBColor)>>],
    pub cell: u32,
    pub left: u32,
    pub header: u32,
}

impl Grid<'_> {
    /// The canvas the grid needs.
    pub fn size(&self) -> (u32, u32) {
        (
            self.left + self.cell * self.column_names.len() as u32 + 16,
            self.header + self.cell * self.row_names.len() as u32 + 16,
        )
    }

    pub fn paint(&self, area: &Area<'_>) -> Result<(), String> {
        let font = (FONT, 12).into_font().color(&TEXT);
        let c = self.cell as i32;
        let (left, header) = (self.left as i32, self.header as i32);
        for (j, name) in self.column_names.iter().enumerate() {
            let x = left + j as i32 * c + c / 2;
            let style = font.clone().transform(FontTransform::Rotate270).pos(Pos::new(HPos::Left, VPos::Center));
            area.draw(&Text::new(label(name, 32), (x, header - 6), style)).map_err(fail)?;
        }
        for (i, name) in self.row_names.iter().enumerate() {
            let y = header + i as i32 * c;
            let style = font.clone().pos(Pos::new(HPos::Right, VPos::Center));
            area.draw(&Text::new(label(name, 30), (left - 6, y + c / 2), style)).map_err(fail)?;
            for (j, cell) in self.cells.get(i).map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
                let x = left + j as i32 * c;
                let outline = Rectangle::new([(x, y), (x + c, y + c)], BLACK.mix(0.15));
                area.draw(&outline).map_err(fail)?;
                let Some((count, colour)) = cell else { continue };
                area.draw(&Rectangle::new([(x + 1, y + 1), (x + c - 1, y + c - 1)], colour.filled())).map_err(fail)?;
                let ink = if colour.0 as u32 + colour.1 as u32 + colour.2 as u32 > 384 { TEXT } else { WHITE };
                let number = if *count >= 10_000 { format!("{}k", count / 1000) } else { count.to_string() };
                let style = (FONT, 10).into_font().color(&ink).pos(Pos::new(HPos::Center, VPos::Center));
                area.draw(&Text::new(number, (x + c / 2, y + c / 2), style)).map_err(fail)?;
            }
        }
        Ok(())
    }
}

/// Horizontal spans on a time axis, one per row, with a vertical line at
/// `now`: (name, start, end, colour), times in seconds since the epoch.
pub fn spans(area: &Area<'_>, rows: &[(String, i64, i64, RGBColor)], now: i64) -> Result<(), String> {
    let n = rows.len().max(1) as i32;
    let lo = rows.iter().map(|r| r.1).chain([now]).min().unwrap_or(now);
    let hi = rows.iter().map(|r| r.2).chain([now]).max().unwrap_or(now).max(lo + 86_400);
    let pad = (hi - lo) / 40;
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(220)
        .build_cartesian_2d((lo - pad)..(hi + pad), (0..n).into_segmented())
        .map_err(fail)?;
    let date = |t: &i64| crate::util::rfc3339::rfc3339_micros(t.saturating_mul(1_000_000)).chars().take(7).collect::<String>();
    let name = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => rows.get(*i as usize).map(|r| label(&r.0, 32)).unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .x_labels(8)
        .x_label_formatter(&date)
        .y_labels(rows.len().max(1))
        .y_label_formatter(&name)
        .label_style((FONT, 12).into_font().color(&TEXT))
        .draw()
        .map_err(fail)?;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, (_, start, end, colour))| {
            let i = i as i32;
            Rectangle::new([(*start, SegmentValue::Exact(i)), (*end, SegmentValue::Exact(i + 1))], colour.filled())
        }))
        .map_err(fail)?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(now, SegmentValue::Exact(0)), (now, SegmentValue::Exact(n))],
            BLACK.stroke_width(2),
        )))
        .map_err(fail)?;
    Ok(())
}
