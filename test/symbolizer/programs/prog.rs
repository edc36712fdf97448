// Test input for the symbolizer: generics, traits, closures, iterators, std collections.
use std::collections::{BTreeMap, HashMap};
use std::fmt;

trait Shape {
    fn area(&self) -> f64;
}

struct Rect<T> {
    w: T,
    h: T,
}

impl<T: Into<f64> + Copy> Shape for Rect<T> {
    fn area(&self) -> f64 {
        self.w.into() * self.h.into()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(i64),
    Word(String),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Number(n) => write!(f, "#{n}"),
            Token::Word(w) => write!(f, "'{w}'"),
        }
    }
}

#[inline(never)]
fn tokenize(text: &str) -> Vec<Token> {
    text.split_whitespace()
        .map(|w| w.parse::<i64>().map(Token::Number).unwrap_or_else(|_| Token::Word(w.to_lowercase())))
        .collect()
}

#[inline(always)]
fn mix(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(0x100000001b3)
}

#[inline(never)]
fn checksum<I: Iterator<Item = u64>>(it: I) -> u64 {
    it.fold(0xcbf29ce484222325, mix)
}

fn generic_sum<T: Copy + std::ops::Add<Output = T>>(items: &[T], zero: T) -> T {
    items.iter().fold(zero, |a, &b| a + b)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let shapes: Vec<Box<dyn Shape>> = (1..50u32)
        .map(|i| -> Box<dyn Shape> {
            if i % 2 == 0 {
                Box::new(Rect { w: i, h: i + 1 })
            } else {
                Box::new(Rect { w: i as f32 * 0.5, h: 2.0f32 })
            }
        })
        .collect();
    let total: f64 = shapes.iter().map(|s| s.area()).sum();
    let tokens = tokenize("the 42 quick brown 7 fox Jumps over 1000 lazy dogs");
    let mut counts: HashMap<String, usize> = HashMap::new();
    for t in &tokens {
        *counts.entry(t.to_string()).or_default() += 1;
    }
    let ordered: BTreeMap<_, _> = counts.into_iter().collect();
    let sum = generic_sum(&[1u64, 2, 3, args.len() as u64], 0);
    let c = checksum(tokens.iter().map(|t| match t {
        Token::Number(n) => *n as u64,
        Token::Word(w) => w.len() as u64,
    }));
    println!("{total} {sum} {c} {:?}", ordered.keys().next());
}
