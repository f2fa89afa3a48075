//! The model of normal traffic of one entry: hourly counts, and a seasonal
//! negative-binomial model refitted at every day boundary.
//!
//! # The model
//!
//! The expected count of hour `h` of day `d` is
//! `level × day_factor(d) × profile(d)[hour of day]`:
//!
//! * `level`: lookups of an average day, the mean of the daily totals of the
//!   baseline (the last `baseline_days` complete days), after removing days
//!   that held a flagged burst and days beyond five times the median (robust to the anomalies themselves, which a plain mean/variance
//!   baseline is not: a spike sitting in the baseline hides the next one).
//! * `day_factor`: the day-of-week shape, each weekday's mean ratio to the
//!   level shrunk towards 1 with the weight of a tenth of a day, learnt once
//!   every weekday is in the baseline twice; holidays (the operator's calendar) take the factor
//!   of the quietest weekend day.
//! * `profile`: the share of a day's lookups in each hour, separately for
//!   working days and for weekends/holidays, each shrunk (towards flat, and
//!   the rest-day profile towards the working-day one) with 24 pseudo-lookups.
//! * Overdispersion `φ` (variance `μ + φμ²`) at two time scales, each by the
//!   method of moments on the baseline's own residuals, `Σ((x−μ)² − x) / Σμ²`:
//!   `φ_day` from daily totals (and `φ_rest` from rest days' alone, never
//!   below it: a handful of people decide an office's Saturday),
//!   `φ_hour` from hourly counts (which carries
//!   the day's shared multiplier as well as the hour's own noise, so it is
//!   never taken below `φ_day`). Both are floored at 0.02 and inflated by
//!   `1 + 2/√n` for their sampling error: under-estimating dispersion is what
//!   turns an ordinary busy day into an alert.
//!
//! The negative-binomial size used in tests is `1/φ` of the matching scale,
//! which is exact for the gamma-Poisson mixture the model assumes: an hour
//! inherits the day's multiplier whole (not `1/24` of its dispersion).
//!
//! An entry first seen after the sensor was already running has no history;
//! until it has `min_history_days`, its expected rate is the posterior mean
//! of a gamma prior worth one day at `prior_per_day` (the population
//! prior), with `φ = 1`.

use std::collections::{BTreeMap, BTreeSet};

use super::reference::Reference;
use super::{DAY, HOUR};

/// Monday = 0 ... Sunday = 6 (the epoch was a Thursday).
pub fn weekday(day: i64) -> usize {
    usize::try_from((day + 3).rem_euclid(7)).unwrap_or(0)
}

/// A fitted model.
#[derive(Clone, Debug)]
pub struct Model {
    /// Lookups of an average day.
    pub level: f64,
    /// Day-of-week factors (Monday first).
    pub dow: [f64; 7],
    /// Factor of a holiday.
    pub holiday: f64,
    /// Hour-of-day shares, working days then rest days.
    pub profile: [[f64; 24]; 2],
    /// Dispersion of daily totals.
    pub phi_day: f64,
    /// Dispersion of the totals of rest days (weekends, holidays), never
    /// below `phi_day`: an office's Saturday is a few people's choice.
    pub phi_rest: f64,
    /// Dispersion of hourly counts.
    pub phi_hour: f64,
    /// Days the fit used.
    pub days: usize,
    /// True when the rate is the prior's posterior, not a fitted model.
    pub prior: bool,
    /// True once the day-of-week shape is learnt (two of each weekday).
    pub weekly: bool,
}

impl Model {
    fn prior(rate_per_day: f64) -> Self {
        Self {
            level: rate_per_day,
            dow: [1.0; 7],
            holiday: 1.0,
            profile: [[1.0 / 24.0; 24]; 2],
            phi_day: 1.0,
            phi_rest: 1.0,
            phi_hour: 1.0,
            days: 0,
            prior: true,
            weekly: false,
        }
    }
}

/// Hourly counts of one entry and its model.
#[derive(Clone, Debug)]
pub struct Series {
    /// First hour with a lookup.
    pub first_hour: i64,
    /// Whether the entry appeared after the sensor had been running (its
    /// empty past is then real, and the population prior applies).
    pub late: bool,
    hours: BTreeMap<i64, u32>,
    flagged: BTreeSet<i64>,
    model: Option<Model>,
}

impl Series {
    /// A series whose first lookup is in `first_hour`.
    pub fn new(first_hour: i64, late: bool) -> Self {
        Self {
            first_hour,
            late,
            hours: BTreeMap::new(),
            flagged: BTreeSet::new(),
            model: None,
        }
    }

    /// Starts from the population prior (an entry with a real empty past).
    pub fn start_prior(&mut self, rate_per_day: f64) {
        self.model = Some(Model::prior(rate_per_day));
    }

    /// Counts one lookup in hour `h`.
    pub fn add(&mut self, h: i64) {
        *self.hours.entry(h).or_insert(0) += 1;
    }

    /// Adds `c` lookups of an earlier run in hour `h`.
    pub fn preload(&mut self, h: i64, c: u64) {
        *self.hours.entry(h).or_insert(0) += u32::try_from(c).unwrap_or(u32::MAX);
        self.first_hour = self.first_hour.min(h);
    }

    /// Whether any hour holds a count.
    pub fn has_counts(&self) -> bool {
        !self.hours.is_empty()
    }

    /// Forgets the counts of hour `h` and later; whether there were any.
    pub fn drop_from(&mut self, h: i64) -> bool {
        let later = self.hours.split_off(&h);
        !later.is_empty()
    }

    /// Count of hour `h`.
    pub fn count(&self, h: i64) -> u64 {
        u64::from(self.hours.get(&h).copied().unwrap_or(0))
    }

    /// Total of day `d`.
    pub fn day_total(&self, d: i64) -> u64 {
        self.hours
            .range(d * 24..(d + 1) * 24)
            .map(|(_, c)| u64::from(*c))
            .sum()
    }

    /// Marks hours as anomalous: they stay out of every later baseline.
    pub fn flag(&mut self, from_h: i64, to_h: i64) {
        for h in from_h..=to_h {
            self.flagged.insert(h);
        }
    }

    /// Whether hour `h` is flagged.
    pub fn is_flagged(&self, h: i64) -> bool {
        self.flagged.contains(&h)
    }

    /// The current model, if any.
    pub fn model(&self) -> Option<&Model> {
        self.model.as_ref()
    }

    /// Day factor of day `d` under `m`.
    pub fn day_factor(m: &Model, d: i64, r: &Reference) -> f64 {
        if r.is_holiday(d) {
            m.holiday
        } else {
            m.dow[weekday(d)]
        }
    }

    /// Day-scale dispersion of day `d` (working or rest day).
    fn phi_of_day(m: &Model, d: i64, r: &Reference) -> f64 {
        if Self::rest(d, r) == 1 {
            m.phi_rest
        } else {
            m.phi_day
        }
    }

    fn rest(d: i64, r: &Reference) -> usize {
        usize::from(r.is_holiday(d) || weekday(d) >= 5)
    }

    /// Expected count of hour `h`, with its negative-binomial size.
    pub fn expected_hour(&self, h: i64, r: &Reference) -> Option<(f64, f64)> {
        let m = self.model.as_ref()?;
        let d = h.div_euclid(24);
        let hod = usize::try_from(h.rem_euclid(24)).unwrap_or(0);
        let k = Self::rest(d, r);
        let mu = m.level * Self::day_factor(m, d, r) * m.profile[k][hod];
        let phi = if k == 1 {
            m.phi_hour.max(m.phi_rest)
        } else {
            m.phi_hour
        };
        Some((mu, 1.0 / phi))
    }

    /// Expected count of hour `h` given the hours of its day already seen,
    /// with its negative-binomial size.
    ///
    /// The day's shared multiplier (gamma, shape `1/φ_day`) is updated by
    /// the day's earlier hours (observed `o` against expected `e`): posterior
    /// shape `a = 1/φ_day + o`, rate `1/φ_day + e`. The hour then carries the
    /// remaining uncertainty of the day, `1/a`, plus its own excess
    /// dispersion `φ_hour − φ_day` (floored at 0.02). At the first hour of a
    /// day this is the unconditional model; by mid-day a busy name's day
    /// level is known and a 5× hour stands out of it.
    pub fn expected_hour_given_day(&self, h: i64, r: &Reference) -> Option<(f64, f64)> {
        let m = self.model.as_ref()?;
        let (mu_h, size_h) = self.expected_hour(h, r)?;
        if m.prior {
            return Some((mu_h, size_h));
        }
        let d = h.div_euclid(24);
        let phi_d = Self::phi_of_day(m, d, r);
        let (mut obs, mut exp) = (0.0, 0.0);
        for hh in (d * 24).max(self.first_hour)..h {
            if self.flagged.contains(&hh) {
                continue;
            }
            obs += self.count(hh) as f64;
            exp += self.expected_hour(hh, r).map_or(0.0, |(mu, _)| mu);
        }
        let a = 1.0 / phi_d + obs;
        let b = 1.0 / phi_d + exp;
        let phi_e = (1.0 / size_h - phi_d).max(0.02);
        Some((mu_h * a / b, 1.0 / (1.0 / a + phi_e)))
    }

    /// Expected total of day `d`, with its negative-binomial size.
    pub fn expected_day(&self, d: i64, r: &Reference) -> Option<(f64, f64)> {
        let m = self.model.as_ref()?;
        Some((
            m.level * Self::day_factor(m, d, r),
            1.0 / Self::phi_of_day(m, d, r),
        ))
    }

    /// Refits the model at the end of day `d` and prunes history older than
    /// the baseline.
    pub fn refit(&mut self, d: i64, cfg: &super::config::Burst, r: &Reference) {
        let baseline = i64::from(cfg.baseline_days);
        let keep_from = (d - baseline - 2) * 24;
        if self
            .hours
            .first_key_value()
            .is_some_and(|(h, _)| *h < keep_from)
        {
            self.hours = self.hours.split_off(&keep_from);
        }
        if self.flagged.first().is_some_and(|h| *h < keep_from) {
            self.flagged = self.flagged.split_off(&keep_from);
        }
        // Complete days only: the first day is partial unless it began at 0h.
        let first_full = if self.first_hour.rem_euclid(24) == 0 {
            self.first_hour.div_euclid(24)
        } else {
            self.first_hour.div_euclid(24) + 1
        };
        let from = first_full.max(d - baseline + 1);
        let history_days = (d - first_full + 1).max(0) as f64;
        if history_days < cfg.min_history_days.max(1.0) {
            self.model = if self.late {
                // Posterior mean of the population prior (one pseudo-day).
                let hours: Vec<i64> = ((self.first_hour)..(d + 1) * 24)
                    .filter(|h| !self.flagged.contains(h))
                    .collect();
                let seen: u64 = hours.iter().map(|h| self.count(*h)).sum();
                let rate = (seen as f64 + cfg.prior_per_day) / (hours.len() as f64 / 24.0 + 1.0);
                Some(Model::prior(rate))
            } else {
                None
            };
            return;
        }
        let days: Vec<i64> = (from..=d)
            .filter(|day| !(day * 24..(day + 1) * 24).any(|h| self.flagged.contains(&h)))
            .collect();
        let totals: Vec<f64> = days.iter().map(|day| self.day_total(*day) as f64).collect();
        if totals.len() < 2 {
            return; // keep the previous model
        }
        let mut sorted = totals.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let keep: Vec<(i64, f64)> = days
            .iter()
            .zip(&totals)
            .filter(|(_, t)| **t <= median * 5.0 + 20.0)
            .map(|(d, t)| (*d, *t))
            .collect();
        let n = keep.len() as f64;
        let level = keep.iter().map(|(_, t)| t).sum::<f64>() / n.max(1.0);
        // Day of week, once two weeks are in.
        let mut dow = [1.0f64; 7];
        let mut seen = [0u32; 7];
        for (d, _) in keep.iter().filter(|(d, _)| !r.is_holiday(*d)) {
            seen[weekday(*d)] += 1;
        }
        let weekly = seen.iter().all(|c| *c >= 2);
        if weekly && level > 0.0 {
            let mut sum = [0.0f64; 7];
            let mut cnt = [0.0f64; 7];
            for (d, t) in keep.iter().filter(|(d, _)| !r.is_holiday(*d)) {
                sum[weekday(*d)] += t / level;
                cnt[weekday(*d)] += 1.0;
            }
            // Shrunk towards 1 with the weight of a tenth of a day: enough
            // to tame a weekday seen twice, not so much that an office's
            // empty Saturday is expected to look like a working day.
            for w in 0..7 {
                dow[w] = (sum[w] + 0.1) / (cnt[w] + 0.1);
            }
            let mean = dow.iter().sum::<f64>() / 7.0;
            for f in &mut dow {
                *f /= mean;
            }
        }
        let holiday = dow[5].min(dow[6]);
        // Hour-of-day profiles.
        let mut c = [[0.0f64; 24]; 2];
        for (d, _) in &keep {
            let k = Self::rest(*d, r);
            for (hod, slot) in c[k].iter_mut().enumerate() {
                let h = d * 24 + hod as i64;
                if !self.flagged.contains(&h) {
                    *slot += self.count(h) as f64;
                }
            }
        }
        let mut profile = [[0.0f64; 24]; 2];
        let work_total: f64 = c[0].iter().sum();
        for hod in 0..24 {
            profile[0][hod] = (c[0][hod] + 1.0) / (work_total + 24.0);
        }
        let rest_total: f64 = c[1].iter().sum();
        for hod in 0..24 {
            profile[1][hod] = (c[1][hod] + 24.0 * profile[0][hod]) / (rest_total + 24.0);
        }
        let mut m = Model {
            level: level.max(0.0),
            dow,
            holiday,
            profile,
            phi_day: 0.0,
            phi_rest: 0.0,
            phi_hour: 0.0,
            days: keep.len(),
            prior: false,
            weekly,
        };
        // Dispersion at both scales, by moments on the residuals.
        let (mut num_d, mut den_d, mut num_h, mut den_h, mut n_h) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let (mut num_r, mut den_r, mut n_r) = (0.0, 0.0, 0.0);
        for (d, t) in &keep {
            let mu = m.level * Self::day_factor(&m, *d, r);
            num_d += (t - mu).powi(2) - t;
            den_d += mu * mu;
            let k = Self::rest(*d, r);
            if k == 1 {
                num_r += (t - mu).powi(2) - t;
                den_r += mu * mu;
                n_r += 1.0;
            }
            for hod in 0..24 {
                let h = d * 24 + hod as i64;
                let x = self.count(h) as f64;
                let muh = mu * m.profile[k][hod];
                num_h += (x - muh).powi(2) - x;
                den_h += muh * muh;
                n_h += 1.0;
            }
        }
        let phi = |num: f64, den: f64, n: f64| {
            let est = if den > 0.0 { num / den } else { 0.0 };
            est.clamp(0.02, 4.0) * (1.0 + 2.0 / n.max(1.0).sqrt())
        };
        m.phi_day = phi(num_d, den_d, n);
        m.phi_rest = phi(num_r, den_r, n_r).max(m.phi_day);
        m.phi_hour = phi(num_h, den_h, n_h / 24.0).max(m.phi_day);
        self.model = Some(m);
    }

    /// Probability of no lookup at all in hours `from_h..=to_h` under the
    /// model (each day's shared gamma multiplier integrated out), and the
    /// expected count over the span.
    pub fn silence(&self, from_h: i64, to_h: i64, r: &Reference) -> Option<(f64, f64)> {
        let m = self.model.as_ref()?;
        if m.prior {
            return None;
        }
        let mut by_day: BTreeMap<i64, f64> = BTreeMap::new();
        for h in from_h..=to_h {
            let (mu, _) = self.expected_hour(h, r)?;
            *by_day.entry(h.div_euclid(24)).or_insert(0.0) += mu;
        }
        let expected: f64 = by_day.values().sum();
        let ln_p: f64 = by_day
            .iter()
            .map(|(d, e)| {
                let phi = Self::phi_of_day(m, *d, r);
                -(1.0 + phi * e).ln() / phi
            })
            .sum();
        Some((ln_p.exp(), expected))
    }
}

/// Hour index of a time.
pub fn hour_of(ts: i64) -> i64 {
    ts.div_euclid(HOUR)
}

/// Day index of a time.
pub fn day_of(ts: i64) -> i64 {
    ts.div_euclid(DAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::config::Burst;

    #[test]
    fn weekdays_are_right() {
        // 2016-05-04 was a Wednesday.
        assert_eq!(weekday(crate::time::days_from_civil(2016, 5, 4)), 2);
        assert_eq!(weekday(0), 3);
    }

    #[test]
    fn fit_learns_level_week_and_day_shape() {
        let r = Reference::default();
        let mut s = Series::new(0, false);
        // 28 days from a Monday: 100 lookups on weekdays between 9h and 17h,
        // 20 on weekend days spread over the day.
        let monday = 4; // 1970-01-05
        for d in monday..monday + 28 {
            if weekday(d) < 5 {
                for k in 0..100 {
                    s.add(d * 24 + 9 + (k % 8));
                }
            } else {
                for k in 0..20 {
                    s.add(d * 24 + k);
                }
            }
        }
        s.first_hour = monday * 24;
        s.refit(monday + 27, &Burst::default(), &r);
        let m = s.model().unwrap().clone();
        assert!((m.level - (100.0 * 20.0 + 20.0 * 8.0) / 28.0).abs() < 1e-9);
        let (wd, _) = s.expected_day(monday + 28, &r).unwrap();
        let (we, _) = s.expected_day(monday + 33, &r).unwrap();
        assert!(wd > 85.0 && wd < 105.0, "{wd}");
        assert!(we > 15.0 && we < 35.0, "{we}");
        let (night, _) = s.expected_hour((monday + 28) * 24 + 3, &r).unwrap();
        let (noon, _) = s.expected_hour((monday + 28) * 24 + 12, &r).unwrap();
        assert!(noon > 10.0 && night < 0.2, "{noon} {night}");
        // Perfectly regular days: dispersion at its floor (inflated).
        assert!(m.phi_day < 0.1, "{}", m.phi_day);
        // A silence of a working day is improbable, of a weekend evening
        // (where this traffic never had lookups) not.
        let (p, e) = s
            .silence((monday + 28) * 24, (monday + 28) * 24 + 23, &r)
            .unwrap();
        assert!(p < 1e-6 && e > 80.0, "{p} {e}");
        let (p, _) = s
            .silence((monday + 33) * 24 + 20, (monday + 33) * 24 + 23, &r)
            .unwrap();
        assert!(p > 1e-3, "{p}");
    }

    #[test]
    fn flagged_days_stay_out_of_the_baseline() {
        let r = Reference::default();
        let mut s = Series::new(0, false);
        for d in 0..20 {
            for k in 0..48 {
                s.add(d * 24 + k / 2);
            }
        }
        for _ in 0..5000 {
            s.add(10 * 24 + 5);
        }
        s.flag(10 * 24 + 5, 10 * 24 + 5);
        s.refit(19, &Burst::default(), &r);
        let m = s.model().unwrap();
        assert!((m.level - 48.0).abs() < 1e-9, "{}", m.level);
    }

    #[test]
    fn late_entries_start_from_the_prior() {
        let r = Reference::default();
        let mut s = Series::new(100, true);
        s.refit(4, &Burst::default(), &r);
        let (mu, size) = s.expected_hour(101, &r).unwrap();
        // 20 silent hours and one pseudo-day at 4 a day.
        let want = 4.0 / (20.0 / 24.0 + 1.0) / 24.0;
        assert!((mu - want).abs() < 1e-9, "{mu} {want}");
        assert!((size - 1.0).abs() < 1e-12);
        let mut early = Series::new(100, false);
        early.refit(4, &Burst::default(), &r);
        assert!(early.expected_hour(101, &r).is_none());
    }

    #[test]
    fn the_days_earlier_hours_tell_its_level() {
        // Overdispersed days (one shared multiplier a day), flat hours.
        let r = Reference::networks(24, 48);
        let mut s = Series::new(0, false);
        let levels = [
            40u32, 160, 60, 120, 80, 200, 50, 100, 140, 70, 90, 110, 30, 150,
        ];
        for (d, per_hour) in levels.iter().enumerate() {
            for hod in 0..24 {
                let h = d as i64 * 24 + hod;
                for _ in 0..*per_hour {
                    s.add(h);
                }
            }
        }
        let cfg = crate::detect::config::Burst::default();
        s.refit(13, &cfg, &r);
        let h0 = 14 * 24;
        let (mu0, size0) = s.expected_hour_given_day(h0, &r).unwrap();
        // The first hour of a day is the unconditional model (never more
        // confident than it: the hour's own excess is floored).
        let (mu, size) = s.expected_hour(h0, &r).unwrap();
        assert!(
            (mu0 - mu).abs() < 1e-9 && size0 <= size + 1e-9,
            "{size0} {size}"
        );
        // Ten hours at 3x the usual rate: the day is a busy one, the next
        // hour is expected higher and with far less day-level uncertainty.
        for h in h0..h0 + 10 {
            for _ in 0..300 {
                s.add(h);
            }
        }
        let (mu10, size10) = s.expected_hour_given_day(h0 + 10, &r).unwrap();
        assert!(mu10 > 2.0 * mu0, "{mu10} vs {mu0}");
        assert!(size10 > 3.0 * size0, "{size10} vs {size0}");
    }
}
