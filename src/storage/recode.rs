//! The conversion of a variable's bytes while the writer copies them
//! ([`crate::format::bundle::writer::Recode`]): one chunk in memory at a time, the
//! error measured on every element.

use super::convert::{ErrorStats, Int8Codes, f16_bytes_into, to_i32};
use super::lanes::read_le_f32s;
use super::plan::{KeyPlan, StoredForm, le_i64s};
use crate::format::bundle::writer::Recode;
use crate::format::proto::DataType;

/// Converts the records of one key as its plan says.
pub struct KeyRecoder<'a> {
    plan: &'a KeyPlan,
    /// The current record's int8 scales, ready to quantize with.
    codes: Int8Codes,
    /// Elements of the current record done so far.
    done: u64,
    /// The chunk being converted, as values (kept to reuse its memory).
    values: Vec<f32>,
    pub error: ErrorStats,
}

impl<'a> KeyRecoder<'a> {
    pub fn new(plan: &'a KeyPlan) -> KeyRecoder<'a> {
        KeyRecoder {
            plan,
            codes: Int8Codes::new(&[]),
            done: 0,
            values: Vec::new(),
            error: ErrorStats::default(),
        }
    }
}

impl Recode for KeyRecoder<'_> {
    fn dtype(&self) -> DataType {
        self.plan.form.stored_dtype(self.plan.dtype)
    }

    fn start(&mut self, record_key: &[u8]) {
        self.done = 0;
        if self.plan.form == StoredForm::Int8 {
            let scales = self.plan.scales.get(record_key);
            self.codes = Int8Codes::new(scales.map_or(&[], |s| s.values.as_slice()));
        }
    }

    fn chunk(&mut self, input: &[u8], out: &mut Vec<u8>) {
        match self.plan.form {
            StoredForm::AsIs => out.extend_from_slice(input),
            StoredForm::Half => {
                read_le_f32s(input, &mut self.values);
                f16_bytes_into(&self.values, out, &mut self.error);
            }
            StoredForm::Int8 => {
                read_le_f32s(input, &mut self.values);
                let (values, done) = (&self.values, self.done);
                self.codes.bytes_into(values, done, out, &mut self.error);
                self.done += values.len() as u64;
            }
            StoredForm::Int32 => {
                let values = le_i64s(input);
                // The plan read every value and found it in range.
                let narrow = to_i32(&values).unwrap_or_else(|| saturated(&values));
                for v in narrow {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
}

fn saturated(values: &[i64]) -> Vec<i32> {
    values
        .iter()
        .map(|&v| v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
        .collect()
}

pub use super::convert::KeyErrors;
