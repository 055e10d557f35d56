//! CEL conditions over per-customer fields, with null-safe semantics.
//!
//! Parsing is done by `cel-parser` and evaluation by `cel-interpreter`; nothing here parses
//! text. After parsing, the expression tree is rewritten once so that a null (missing) field
//! never raises an error:
//!
//! * a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`, `in`) with a null operand is `false`
//!   (`!=` included), unless one side is the literal `null`: `x == null` and `x != null` test
//!   for a missing value as usual;
//! * arithmetic, negation, field selection (`a.b`), indexing (`a[i]`) and function or method
//!   calls with a null operand give null; an arithmetic result that is not a number (`0.0/0.0`)
//!   is null too;
//! * a macro (`all`, `exists`, ...) over null iterates over nothing.
//!
//! Numbers: fields are doubles; integer literals compare with them as numbers
//! (`features_used_30d >= 3` holds for 3.0), and arithmetic mixing an integer with a double
//! is done in doubles (`sessions_30d / 30`).
//!
//! Every other runtime problem (comparing a text with a number, calling an unknown function)
//! is an error, as is a condition whose value is not a bool.
//!
//! The rewrite replaces operator calls with calls to helper functions registered under names
//! starting with `__ns_`; user expressions may not use that prefix.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use cel_interpreter::objects::Key;
use cel_interpreter::{Context, ExecutionError, FunctionContext, ResolveResult, Value};
use cel_parser::ast::{operators, CallExpr, EntryExpr, Expr, IdedExpr, SelectExpr};
use cel_parser::reference::Val;
use thiserror::Error;

use crate::fields::{FieldValue, Fields};
use crate::triggers::TriggerEvent;

/// A condition that failed to evaluate for one customer.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ExprError {
    /// Evaluation raised an error (a type mismatch such as `tier > 3`, an unknown function).
    #[error("{rule} (when = {when:?}) failed for customer {}: {message}", customer(.customer_id))]
    Failed {
        /// The rule: `segment "at_risk"` or `trigger "cs-task-on-risk"`.
        rule: String,
        /// The condition's text.
        when: String,
        /// The customer, when known (see [`ExprError::with_customer`]).
        customer_id: Option<String>,
        /// What went wrong.
        message: String,
    },
    /// The condition's value is not a bool (`when = "p_alive"`).
    #[error("{rule} (when = {when:?}) gave {got} for customer {}, expected true or false", customer(.customer_id))]
    NotBool {
        /// The rule: `segment "at_risk"` or `trigger "cs-task-on-risk"`.
        rule: String,
        /// The condition's text.
        when: String,
        /// The customer, when known.
        customer_id: Option<String>,
        /// The value it gave, described.
        got: String,
    },
}

fn customer(id: &Option<String>) -> String {
    match id {
        Some(id) => format!("{id:?}"),
        None => "(unknown id)".to_string(),
    }
}

impl ExprError {
    /// The same error, naming the customer.
    pub fn with_customer(mut self, id: &str) -> ExprError {
        match &mut self {
            ExprError::Failed { customer_id, .. } | ExprError::NotBool { customer_id, .. } => {
                *customer_id = Some(id.to_string())
            }
        }
        self
    }
}

/// One compiled condition.
#[derive(Debug, Clone)]
pub struct CompiledExpr {
    source: String,
    expr: IdedExpr,
    variables: BTreeSet<String>,
}

const PREFIX: &str = "__ns_";
const F_EQ: &str = "__ns_eq";
const F_NE: &str = "__ns_ne";
const F_LT: &str = "__ns_lt";
const F_LE: &str = "__ns_le";
const F_GT: &str = "__ns_gt";
const F_GE: &str = "__ns_ge";
const F_IN: &str = "__ns_in";
const F_ADD: &str = "__ns_add";
const F_SUB: &str = "__ns_sub";
const F_MUL: &str = "__ns_mul";
const F_DIV: &str = "__ns_div";
const F_MOD: &str = "__ns_mod";
const F_NEG: &str = "__ns_neg";
const F_INDEX: &str = "__ns_index";
const F_SELECT: &str = "__ns_select";
const F_CALL: &str = "__ns_call";
const F_ITER: &str = "__ns_iterable";
const V_A: &str = "__ns_a";
const V_B: &str = "__ns_b";
const V_T: &str = "__ns_t";

impl CompiledExpr {
    /// Parses and prepares a condition. The error message says what is wrong and where in the
    /// expression (1-based column).
    ///
    /// ```
    /// use northstar_act::CompiledExpr;
    /// assert!(CompiledExpr::compile("tier == 'red' || p_alive < 0.3").is_ok());
    /// let err = CompiledExpr::compile("tier == ").unwrap_err();
    /// assert!(err.starts_with("does not parse"), "{err}");
    /// ```
    pub fn compile(source: &str) -> Result<CompiledExpr, String> {
        if source.trim().is_empty() {
            return Err("is empty; expected a condition such as \"tier == 'red'\"".into());
        }
        let parsed = quiet_parse(source).ok_or_else(|| {
            "does not parse: a syntax error (an incomplete or malformed expression, such as a \
             trailing operator or an unclosed parenthesis)"
                .to_string()
        })?;
        let expr = parsed.map_err(|errs| {
            let parts: Vec<String> = errs
                .errors
                .iter()
                .map(|e| {
                    // cel-parser reports 1-based lines and columns.
                    let msg = e.msg.trim_start_matches("Syntax error: ");
                    if e.pos.0 > 1 {
                        format!(
                            "{msg} (line {}, column {} of the expression)",
                            e.pos.0, e.pos.1
                        )
                    } else {
                        format!("{msg} (column {} of the expression)", e.pos.1)
                    }
                })
                .collect();
            format!("does not parse: {}", parts.join("; "))
        })?;
        let mut variables = BTreeSet::new();
        check(&expr, &mut variables)?;
        let expr = rewrite(expr);
        Ok(CompiledExpr {
            source: source.to_string(),
            expr,
            variables,
        })
    }

    /// The condition's text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the condition reads the variable `name`.
    pub fn references_variable(&self, name: &str) -> bool {
        self.variables.contains(name)
    }

    /// The variables (field names) the condition reads.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.variables.iter().map(String::as_str)
    }

    /// Evaluates to a bool in a bound scope. `rule` names the rule for errors.
    pub(crate) fn eval_bool(&self, scope: &Scope, rule: &str) -> Result<bool, ExprError> {
        let ctx = &scope.ctx;
        let result = catch_unwind(AssertUnwindSafe(|| Value::resolve(&self.expr, ctx)))
            .unwrap_or_else(|_| {
                Err(ExecutionError::function_error(
                    "evaluate",
                    "the CEL interpreter failed on this expression",
                ))
            });
        match result {
            Ok(Value::Bool(b)) => Ok(b),
            // Null propagates (a function of a missing field): the condition does not hold.
            Ok(Value::Null) => Ok(false),
            Ok(other) => Err(ExprError::NotBool {
                rule: rule.to_string(),
                when: self.source.clone(),
                customer_id: scope.customer_id.clone(),
                got: describe(&other),
            }),
            Err(e) => Err(ExprError::Failed {
                rule: rule.to_string(),
                when: self.source.clone(),
                customer_id: scope.customer_id.clone(),
                message: explain(&e),
            }),
        }
    }
}

thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Parses with `cel-parser`, turning its panics into `None`.
///
/// cel-parser 0.10 panics (inside antlr4rust's tree visitor) on some malformed input, such as
/// a trailing `&&` (fixed upstream in cel-rust PR #192, released in the `cel` crate 0.11+). The
/// panic is caught; to keep it from printing a scary message, a panic hook is installed once
/// that stays silent for panics on this thread while a parse runs and delegates every other
/// panic to the hook that was there before.
fn quiet_parse(source: &str) -> Option<Result<IdedExpr, cel_parser::ParseErrors>> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info)
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let out = catch_unwind(|| cel_parser::Parser::default().parse(source)).ok();
    QUIET.with(|q| q.set(false));
    out
}

/// Rejects what the interpreter cannot evaluate and collects the variables.
fn check(e: &IdedExpr, vars: &mut BTreeSet<String>) -> Result<(), String> {
    match &e.expr {
        Expr::Unspecified => Err("contains an empty expression".into()),
        Expr::Struct(s) => Err(format!(
            "uses a message literal ({} {{...}}), which northstar conditions do not support",
            s.type_name
        )),
        Expr::Ident(name) => {
            if name.starts_with(PREFIX) {
                return Err(format!(
                    "uses {name:?}; names starting with {PREFIX:?} are reserved"
                ));
            }
            if !name.starts_with('@') {
                vars.insert(name.clone());
            }
            Ok(())
        }
        Expr::Literal(_) => Ok(()),
        Expr::Call(c) => {
            if c.func_name.starts_with(PREFIX) {
                return Err(format!(
                    "calls {:?}; names starting with {PREFIX:?} are reserved",
                    c.func_name
                ));
            }
            if c.func_name == operators::OPT_INDEX || c.func_name == operators::OPT_SELECT {
                return Err("uses optional syntax (?. or [?]), which is not supported".into());
            }
            if let Some(t) = &c.target {
                check(t, vars)?;
            }
            c.args.iter().try_for_each(|a| check(a, vars))
        }
        Expr::Comprehension(c) => {
            check(&c.iter_range, vars)?;
            check(&c.accu_init, vars)?;
            check(&c.loop_cond, vars)?;
            check(&c.loop_step, vars)?;
            check(&c.result, vars)
        }
        Expr::List(l) => l.elements.iter().try_for_each(|a| check(a, vars)),
        Expr::Map(m) => m.entries.iter().try_for_each(|en| match &en.expr {
            EntryExpr::MapEntry(me) => {
                check(&me.key, vars)?;
                check(&me.value, vars)
            }
            EntryExpr::StructField(_) => Err("uses a message field in a map literal".into()),
        }),
        Expr::Select(s) => check(&s.operand, vars),
    }
}

fn is_null_literal(e: &IdedExpr) -> bool {
    matches!(e.expr, Expr::Literal(Val::Null))
}

fn call(id: u64, name: &str, args: Vec<IdedExpr>) -> IdedExpr {
    IdedExpr {
        id,
        expr: Expr::Call(CallExpr {
            func_name: name.to_string(),
            target: None,
            args,
        }),
    }
}

fn literal(val: Val) -> IdedExpr {
    IdedExpr {
        id: 0,
        expr: Expr::Literal(val),
    }
}

fn ident(name: &str) -> IdedExpr {
    IdedExpr {
        id: 0,
        expr: Expr::Ident(name.to_string()),
    }
}

/// Rewrites operators and calls into the null-safe helpers (see the module docs).
fn rewrite(e: IdedExpr) -> IdedExpr {
    let id = e.id;
    match e.expr {
        Expr::Call(c) => {
            let CallExpr {
                func_name,
                target,
                args,
            } = c;
            let target = target.map(|t| Box::new(rewrite(*t)));
            let helper = match (func_name.as_str(), args.len(), target.is_some()) {
                (operators::EQUALS, 2, false) => Some(F_EQ),
                (operators::NOT_EQUALS, 2, false) => Some(F_NE),
                (operators::LESS, 2, false) => Some(F_LT),
                (operators::LESS_EQUALS, 2, false) => Some(F_LE),
                (operators::GREATER, 2, false) => Some(F_GT),
                (operators::GREATER_EQUALS, 2, false) => Some(F_GE),
                (operators::IN, 2, false) => Some(F_IN),
                (operators::ADD, 2, false) => Some(F_ADD),
                (operators::SUBSTRACT, 2, false) => Some(F_SUB),
                (operators::MULTIPLY, 2, false) => Some(F_MUL),
                (operators::DIVIDE, 2, false) => Some(F_DIV),
                (operators::MODULO, 2, false) => Some(F_MOD),
                (operators::NEGATE, 1, false) => Some(F_NEG),
                (operators::INDEX, 2, false) => Some(F_INDEX),
                _ => None,
            };
            let keeps_null_semantics = matches!(
                func_name.as_str(),
                operators::EQUALS | operators::NOT_EQUALS
            ) && args.iter().any(is_null_literal);
            let args: Vec<IdedExpr> = args.into_iter().map(rewrite).collect();
            let is_operator = matches!(
                func_name.as_str(),
                operators::CONDITIONAL
                    | operators::LOGICAL_AND
                    | operators::LOGICAL_OR
                    | operators::LOGICAL_NOT
                    | operators::NOT_STRICTLY_FALSE
            ) || func_name.starts_with('_')
                || func_name.starts_with('@')
                || func_name.starts_with('!')
                || func_name.starts_with('-');
            match helper {
                Some(h) if !keeps_null_semantics => call(id, h, args),
                _ if keeps_null_semantics || is_operator => IdedExpr {
                    id,
                    expr: Expr::Call(CallExpr {
                        func_name,
                        target,
                        args,
                    }),
                },
                _ => {
                    // A function or method call: __ns_call("name", has_target, [target,] args...)
                    let mut all = Vec::with_capacity(args.len() + 3);
                    all.push(literal(Val::String(func_name)));
                    all.push(literal(Val::Boolean(target.is_some())));
                    if let Some(t) = target {
                        all.push(*t);
                    }
                    all.extend(args);
                    call(id, F_CALL, all)
                }
            }
        }
        Expr::Select(s) => {
            let SelectExpr {
                operand,
                field,
                test,
            } = s;
            let operand = rewrite(*operand);
            if test {
                IdedExpr {
                    id,
                    expr: Expr::Select(SelectExpr {
                        operand: Box::new(operand),
                        field,
                        test,
                    }),
                }
            } else {
                call(id, F_SELECT, vec![operand, literal(Val::String(field))])
            }
        }
        Expr::Comprehension(mut c) => {
            let range = rewrite(*c.iter_range);
            c.iter_range = Box::new(call(0, F_ITER, vec![range]));
            c.accu_init = Box::new(rewrite(*c.accu_init));
            c.loop_cond = Box::new(rewrite(*c.loop_cond));
            c.loop_step = Box::new(rewrite(*c.loop_step));
            c.result = Box::new(rewrite(*c.result));
            IdedExpr {
                id,
                expr: Expr::Comprehension(c),
            }
        }
        Expr::List(mut l) => {
            l.elements = l.elements.into_iter().map(rewrite).collect();
            IdedExpr {
                id,
                expr: Expr::List(l),
            }
        }
        Expr::Map(mut m) => {
            for en in m.entries.iter_mut() {
                if let EntryExpr::MapEntry(me) = &mut en.expr {
                    me.key = rewrite(std::mem::take(&mut me.key));
                    me.value = rewrite(std::mem::take(&mut me.value));
                }
            }
            IdedExpr {
                id,
                expr: Expr::Map(m),
            }
        }
        other => IdedExpr { id, expr: other },
    }
}

// ---------------------------------------------------------------------------------------------
// Runtime: the root context with the helper functions, and per-customer scopes.

/// The root CEL context: the standard functions plus the null-safe helpers.
pub(crate) struct Runtime {
    root: Context<'static>,
    /// Every variable some compiled condition reads; unset ones are bound to null.
    variables: BTreeSet<String>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("variables", &self.variables)
            .finish_non_exhaustive()
    }
}

/// Variables bound for one customer (and optionally one event).
pub(crate) struct Scope<'a> {
    ctx: Context<'a>,
    customer_id: Option<String>,
}

impl Runtime {
    pub(crate) fn new<'e>(exprs: impl Iterator<Item = &'e CompiledExpr>) -> Runtime {
        let mut root = Context::default();
        root.add_function(F_EQ, |a: Value, b: Value| rel(a, b, Rel::Eq));
        root.add_function(F_NE, |a: Value, b: Value| rel(a, b, Rel::Ne));
        root.add_function(F_LT, |a: Value, b: Value| rel(a, b, Rel::Lt));
        root.add_function(F_LE, |a: Value, b: Value| rel(a, b, Rel::Le));
        root.add_function(F_GT, |a: Value, b: Value| rel(a, b, Rel::Gt));
        root.add_function(F_GE, |a: Value, b: Value| rel(a, b, Rel::Ge));
        root.add_function(F_IN, ns_in);
        root.add_function(F_ADD, |a: Value, b: Value| arith(a, b, Arith::Add));
        root.add_function(F_SUB, |a: Value, b: Value| arith(a, b, Arith::Sub));
        root.add_function(F_MUL, |a: Value, b: Value| arith(a, b, Arith::Mul));
        root.add_function(F_DIV, |a: Value, b: Value| arith(a, b, Arith::Div));
        root.add_function(F_MOD, |a: Value, b: Value| arith(a, b, Arith::Mod));
        root.add_function(F_NEG, ns_neg);
        root.add_function(F_INDEX, ns_index);
        root.add_function(F_SELECT, ns_select);
        root.add_function(F_CALL, ns_call);
        root.add_function(F_ITER, ns_iterable);
        let variables = exprs.flat_map(|e| e.variables.iter().cloned()).collect();
        Runtime { root, variables }
    }

    /// Binds a customer's fields (numbers as doubles, texts as strings, null for missing ones),
    /// and `event` (null unless given).
    pub(crate) fn scope(
        &self,
        fields: &Fields,
        event: Option<&TriggerEvent>,
        customer_id: Option<&str>,
    ) -> Scope<'_> {
        let mut ctx = self.root.new_inner_scope();
        for (name, v) in fields.iter() {
            ctx.add_variable_from_value(name, field_value(v));
        }
        for name in &self.variables {
            if fields.get(name).is_null() && name != "event" {
                ctx.add_variable_from_value(name.as_str(), Value::Null);
            }
        }
        let ev = match event {
            Some(e) => event_value(e),
            None => Value::Null,
        };
        ctx.add_variable_from_value("event", ev);
        let customer_id = customer_id
            .map(str::to_string)
            .or_else(|| fields.text("customer_id").map(str::to_string));
        Scope { ctx, customer_id }
    }
}

impl Scope<'_> {
    /// A scope that also binds `event`.
    pub(crate) fn with_event(&self, e: &TriggerEvent) -> Scope<'_> {
        let mut ctx = self.ctx.new_inner_scope();
        ctx.add_variable_from_value("event", event_value(e));
        Scope {
            ctx,
            customer_id: self.customer_id.clone(),
        }
    }
}

fn field_value(v: &FieldValue) -> Value {
    match v {
        FieldValue::Null => Value::Null,
        FieldValue::Number(x) => Value::Float(*x),
        FieldValue::Text(s) => Value::String(Arc::new(s.clone())),
    }
}

fn event_value(e: &TriggerEvent) -> Value {
    let mut m: HashMap<Key, Value> = HashMap::new();
    let s = |x: &str| Value::String(Arc::new(x.to_string()));
    m.insert(Key::from("name".to_string()), s(&e.name));
    m.insert(Key::from("timestamp".to_string()), s(&e.timestamp));
    m.insert(Key::from("user_id".to_string()), s(&e.user_id));
    m.insert(
        Key::from("feature".to_string()),
        e.feature.as_deref().map(s).unwrap_or(Value::Null),
    );
    m.insert(Key::from("data".to_string()), json_value(&e.data));
    Value::from(m)
}

fn json_value(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::UInt(u)
            } else {
                n.as_f64().map(Value::Float).unwrap_or(Value::Null)
            }
        }
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(a) => Value::List(Arc::new(a.iter().map(json_value).collect())),
        serde_json::Value::Object(o) => {
            let m: HashMap<Key, Value> = o
                .iter()
                .map(|(k, v)| (Key::from(k.clone()), json_value(v)))
                .collect();
            Value::from(m)
        }
    }
}

/// A short, user-facing description of a value.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => format!("{i} (integer)"),
        Value::UInt(u) => format!("{u} (unsigned integer)"),
        Value::Float(f) => format!("{f} (number)"),
        Value::String(s) => format!("{:?} (text)", s.as_str()),
        Value::List(l) => format!("a list of {}", l.len()),
        Value::Map(_) => "a map".into(),
        Value::Bytes(_) => "bytes".into(),
        Value::Function(name, _) => format!("the function {name}"),
        #[allow(unreachable_patterns)]
        _ => "a time value".into(),
    }
}

fn explain(e: &ExecutionError) -> String {
    match e {
        ExecutionError::ValuesNotComparable(a, b) => {
            format!("cannot compare {} with {}", describe(a), describe(b))
        }
        ExecutionError::UnsupportedBinaryOperator(op, a, b) => {
            format!("cannot {op} {} and {}", describe(a), describe(b))
        }
        ExecutionError::UndeclaredReference(name) => format!("unknown function or name {name}"),
        ExecutionError::FunctionError { function, message } if function.starts_with(PREFIX) => {
            message.clone()
        }
        other => other.to_string(),
    }
}

#[derive(Clone, Copy)]
enum Rel {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

fn rel(a: Value, b: Value, op: Rel) -> ResolveResult {
    if matches!(a, Value::Null) || matches!(b, Value::Null) {
        return Ok(Value::Bool(false));
    }
    let holds = match op {
        Rel::Eq => a == b,
        Rel::Ne => a != b,
        _ => {
            let ord = a
                .partial_cmp(&b)
                .ok_or_else(|| ExecutionError::ValuesNotComparable(a.clone(), b.clone()))?;
            match op {
                Rel::Lt => ord == Ordering::Less,
                Rel::Le => ord != Ordering::Greater,
                Rel::Gt => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }
        }
    };
    Ok(Value::Bool(holds))
}

#[derive(Clone, Copy)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

fn arith(a: Value, b: Value, op: Arith) -> ResolveResult {
    if matches!(a, Value::Null) || matches!(b, Value::Null) {
        return Ok(Value::Null);
    }
    let (a, b) = match (a, b) {
        (Value::Int(x), Value::Float(y)) => (Value::Float(x as f64), Value::Float(y)),
        (Value::Float(x), Value::Int(y)) => (Value::Float(x), Value::Float(y as f64)),
        (Value::UInt(x), Value::Float(y)) => (Value::Float(x as f64), Value::Float(y)),
        (Value::Float(x), Value::UInt(y)) => (Value::Float(x), Value::Float(y as f64)),
        pair => pair,
    };
    let out = match op {
        Arith::Add => a + b,
        Arith::Sub => a - b,
        Arith::Mul => a * b,
        Arith::Div => a / b,
        Arith::Mod => a % b,
    }?;
    Ok(match out {
        Value::Float(x) if x.is_nan() => Value::Null,
        v => v,
    })
}

fn ns_neg(a: Value) -> ResolveResult {
    match a {
        Value::Null => Ok(Value::Null),
        Value::Float(x) => Ok(Value::Float(-x)),
        Value::Int(i) => i.checked_neg().map(Value::Int).ok_or_else(|| {
            ExecutionError::function_error(F_NEG, format!("cannot negate {i}: it overflows"))
        }),
        other => Err(ExecutionError::function_error(
            F_NEG,
            format!("cannot negate {}", describe(&other)),
        )),
    }
}

fn ns_iterable(a: Value) -> ResolveResult {
    match a {
        Value::Null => Ok(Value::List(Arc::new(Vec::new()))),
        v @ (Value::List(_) | Value::Map(_)) => Ok(v),
        other => Err(ExecutionError::function_error(
            F_ITER,
            format!(
                "cannot iterate over {}; expected a list or a map",
                describe(&other)
            ),
        )),
    }
}

fn ns_select(a: Value, field: Value) -> ResolveResult {
    let Value::String(field) = field else {
        return Err(ExecutionError::function_error(F_SELECT, "bad field name"));
    };
    match a {
        Value::Null => Ok(Value::Null),
        Value::Map(m) => Ok(m
            .map
            .get(&Key::String(field.clone()))
            .cloned()
            .unwrap_or(Value::Null)),
        other => Err(ExecutionError::function_error(
            F_SELECT,
            format!("cannot read .{field} of {}", describe(&other)),
        )),
    }
}

/// Evaluates `op` from the library on already resolved operands bound as variables.
fn delegate(ptx: &Context, op: &str, a: Value, b: Value) -> ResolveResult {
    static EXPRS: OnceLock<(IdedExpr, IdedExpr)> = OnceLock::new();
    let (index, inn) = EXPRS.get_or_init(|| {
        (
            call(0, operators::INDEX, vec![ident(V_A), ident(V_B)]),
            call(0, operators::IN, vec![ident(V_A), ident(V_B)]),
        )
    });
    let expr = if op == operators::INDEX { index } else { inn };
    let mut child = ptx.new_inner_scope();
    child.add_variable_from_value(V_A, a);
    child.add_variable_from_value(V_B, b);
    Value::resolve(expr, &child)
}

fn ns_in(ftx: &FunctionContext, a: Value, b: Value) -> ResolveResult {
    if matches!(a, Value::Null) || matches!(b, Value::Null) {
        return Ok(Value::Bool(false));
    }
    delegate(ftx.ptx, operators::IN, a, b)
}

fn ns_index(ftx: &FunctionContext, a: Value, i: Value) -> ResolveResult {
    match (&a, &i) {
        (Value::Null, _) | (_, Value::Null) => Ok(Value::Null),
        // Out-of-range integer indexes read as missing (and cannot overflow inside the library).
        (Value::List(_) | Value::String(_), Value::Int(n))
            if *n < 0 || *n >= i64::from(u32::MAX) =>
        {
            Ok(Value::Null)
        }
        _ => delegate(ftx.ptx, operators::INDEX, a, i),
    }
}

/// `__ns_call("name", has_target, [target,] args...)`: null target or argument gives null;
/// otherwise the library's function is called on the resolved values.
fn ns_call(ftx: &FunctionContext) -> ResolveResult {
    let bad = || ExecutionError::function_error(F_CALL, "malformed call");
    let name = match ftx.args.first().map(|e| &e.expr) {
        Some(Expr::Literal(Val::String(s))) => s.clone(),
        _ => return Err(bad()),
    };
    let has_target = match ftx.args.get(1).map(|e| &e.expr) {
        Some(Expr::Literal(Val::Boolean(b))) => *b,
        _ => return Err(bad()),
    };
    let mut values = Vec::with_capacity(ftx.args.len().saturating_sub(2));
    for arg in ftx.args.iter().skip(2) {
        let v = Value::resolve(arg, ftx.ptx)?;
        if matches!(v, Value::Null) {
            return Ok(Value::Null);
        }
        values.push(v);
    }
    if has_target && values.is_empty() {
        return Err(bad());
    }
    let mut child = ftx.ptx.new_inner_scope();
    let mut values = values.into_iter();
    let target = if has_target {
        let t = values.next().ok_or_else(bad)?;
        child.add_variable_from_value(V_T, t);
        Some(Box::new(ident(V_T)))
    } else {
        None
    };
    let mut args = Vec::new();
    for (i, v) in values.enumerate() {
        let n = format!("{PREFIX}arg{i}");
        child.add_variable_from_value(n.as_str(), v);
        args.push(ident(&n));
    }
    let expr = IdedExpr {
        id: 0,
        expr: Expr::Call(CallExpr {
            func_name: name,
            target,
            args,
        }),
    };
    Value::resolve(&expr, &child)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str, fields: &Fields) -> Result<bool, ExprError> {
        let e = CompiledExpr::compile(src).unwrap();
        let rt = Runtime::new(std::iter::once(&e));
        let scope = rt.scope(fields, None, Some("c1"));
        e.eval_bool(&scope, "segment \"t\"")
    }

    fn customer() -> Fields {
        let mut f = Fields::new();
        f.set_number("features_used_30d", Some(3.0));
        f.set_number("usage_trend", None);
        f.set_number("p_alive", Some(0.25));
        f.set_text("tier", "red");
        f
    }

    #[test]
    fn integer_literals_compare_with_double_fields() {
        let f = customer();
        assert!(eval("features_used_30d >= 3", &f).unwrap());
        assert!(eval("features_used_30d == 3", &f).unwrap());
        assert!(!eval("features_used_30d > 3", &f).unwrap());
        assert!(eval("features_used_30d in [1, 2, 3]", &f).unwrap());
    }

    #[test]
    fn null_field_makes_every_comparison_false_without_error() {
        let f = customer();
        for src in [
            "usage_trend <= -0.5",
            "usage_trend > -0.5",
            "usage_trend == 0",
            "usage_trend != 0",
            "usage_trend in [0.0]",
            "never_set == 'x'",
            "usage_trend * 2 < 1",
            "-usage_trend < 1",
            "size(never_set) > 0",
            "never_set.startsWith('a')",
            "event.feature == 'export'",
        ] {
            assert_eq!(eval(src, &f), Ok(false), "{src}");
        }
    }

    #[test]
    fn comparing_with_the_null_literal_tests_for_missing_values() {
        let f = customer();
        assert!(eval("usage_trend == null", &f).unwrap());
        assert!(!eval("usage_trend != null", &f).unwrap());
        assert!(eval("p_alive != null", &f).unwrap());
    }

    #[test]
    fn a_null_comparison_inside_or_lets_other_branches_decide() {
        let f = customer();
        // usage_trend is null (false), tier == 'red' holds.
        assert!(eval("usage_trend <= -0.5 || tier == 'red'", &f).unwrap());
        assert!(!eval("usage_trend <= -0.5 || p_alive < 0.2", &f).unwrap());
    }

    #[test]
    fn mixed_integer_and_double_arithmetic_is_done_in_doubles() {
        let mut f = customer();
        f.set_number("sessions_30d", Some(45.0));
        // 45 / 30 = 1.5
        assert!(eval("sessions_30d / 30 == 1.5", &f).unwrap());
        assert!(eval("sessions_30d + 5 == 50", &f).unwrap());
        assert!(eval("2 * 3 == 6", &f).unwrap());
    }

    #[test]
    fn zero_over_zero_is_null_so_the_comparison_is_false() {
        let mut f = customer();
        f.set_number("a", Some(0.0));
        assert_eq!(eval("a / a > 1", &f), Ok(false));
    }

    #[test]
    fn type_mismatch_is_an_error_naming_rule_and_customer() {
        let f = customer();
        let err = eval("tier > 3", &f).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("segment \"t\""), "{msg}");
        assert!(msg.contains("customer \"c1\""), "{msg}");
        assert!(
            msg.contains("cannot compare \"red\" (text) with 3 (integer)"),
            "{msg}"
        );
    }

    #[test]
    fn non_bool_result_is_an_error() {
        let f = customer();
        let err = eval("p_alive", &f).unwrap_err();
        // A null result (a function of a missing field) counts as false, not as an error.
        assert_eq!(eval("never_set.startsWith('a')", &f), Ok(false));
        assert!(
            matches!(err, ExprError::NotBool { ref got, .. } if got == "0.25 (number)"),
            "{err}"
        );
        let err = eval("p_alive || false", &f).unwrap_err();
        assert!(matches!(err, ExprError::NotBool { .. }), "{err}");
    }

    #[test]
    fn functions_and_macros_work_on_values() {
        let mut f = customer();
        f.set_text("plan", "enterprise-annual");
        assert!(eval("plan.startsWith('enterprise')", &f).unwrap());
        assert!(eval("size(plan) == 17", &f).unwrap());
        assert!(eval("[1, 2, 3].exists(x, x > features_used_30d - 1)", &f).unwrap());
        assert!(eval("[1, 2, 3].all(x, x <= features_used_30d)", &f).unwrap());
        assert!(eval("!has(never_set.x)", &f).unwrap());
        assert_eq!(eval("never_set.all(x, x > 1)", &f), Ok(true));
        assert!(eval("tier[0] == 'r'", &f).unwrap());
        assert_eq!(eval("tier[9223372036854775807] == 'r'", &f), Ok(false));
    }

    #[test]
    fn iterating_over_a_number_is_an_error_not_a_panic() {
        let f = customer();
        let err = eval("p_alive.all(x, x > 1)", &f).unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot iterate over 0.25 (number)"),
            "{err}"
        );
    }

    #[test]
    fn unsupported_and_reserved_syntax_is_rejected_at_compile_time() {
        assert!(CompiledExpr::compile("Foo{a: 1} == null")
            .unwrap_err()
            .contains("message literal"));
        assert!(CompiledExpr::compile("__ns_eq(1, 2)")
            .unwrap_err()
            .contains("reserved"));
        assert!(CompiledExpr::compile("").unwrap_err().contains("empty"));
        // cel-parser 0.10 panics on a trailing operator; that is caught and reported.
        let err = CompiledExpr::compile("tier == 'red' &&").unwrap_err();
        assert!(err.starts_with("does not parse: a syntax error"), "{err}");
        // A single `=` is reported with its column (1-based: the `=` is the 6th character).
        let err = CompiledExpr::compile("tier = 'red'").unwrap_err();
        assert!(
            err.starts_with(
                "does not parse: token recognition error at: '= ' (column 6 of the expression)"
            ),
            "{err}"
        );
    }

    #[test]
    fn event_fields_and_json_data_are_visible() {
        let e = CompiledExpr::compile(
            "event.name == 'limit_hit' && event.feature == null && event.data.limit >= 100 && event.data.plan == 'pro'",
        )
        .unwrap();
        let rt = Runtime::new(std::iter::once(&e));
        let ev = TriggerEvent {
            name: "limit_hit".into(),
            timestamp: "2024-03-01T10:00:00Z".into(),
            user_id: "u1".into(),
            feature: None,
            data: serde_json::json!({"limit": 100, "plan": "pro"}),
        };
        let f = Fields::new();
        assert_eq!(
            e.eval_bool(&rt.scope(&f, Some(&ev), None), "trigger \"t\""),
            Ok(true)
        );
        assert_eq!(
            e.eval_bool(&rt.scope(&f, None, None), "trigger \"t\""),
            Ok(false)
        );
    }

    #[test]
    fn every_prefix_of_a_real_condition_compiles_or_errors_and_evaluates_without_panic() {
        let full = "tier == 'red' || (usage_trend <= -0.5 && size(plan) > 2) || \
                    [1, 2].exists(x, x * 2.0 >= days_since_last_activity / 7) || \
                    plan.startsWith('ent') || {'a': 1}['a'] in [1] || -p_alive < -0.3 ? true : false";
        let mut f = customer();
        f.set_text("tier", "green");
        f.set_text("plan", "enterprise");
        f.set_number("days_since_last_activity", Some(3.0));
        let mut compiled = 0;
        for end in (0..=full.len()).filter(|&i| full.is_char_boundary(i)) {
            if let Ok(e) = CompiledExpr::compile(&full[..end]) {
                compiled += 1;
                let rt = Runtime::new(std::iter::once(&e));
                let _ = e.eval_bool(&rt.scope(&f, None, None), "segment \"p\"");
            }
        }
        // The whole expression and a handful of prefixes (at each complete `||` operand) compile.
        assert!(compiled >= 5, "{compiled}");
        // tier is green and usage_trend null (false); the exists() holds: 1 * 2.0 >= 3 / 7.
        assert_eq!(eval(full, &f), Ok(true));
        assert_eq!(
            eval(&full[..full.find(" || [1, 2]").unwrap()], &f),
            Ok(false)
        );
    }

    #[test]
    fn runtime_can_be_shared_across_threads() {
        fn assert_sync<T: Send + Sync>() {}
        assert_sync::<CompiledExpr>();
        assert_sync::<Runtime>();
    }
}
