// A schema type as JSON can write it: TypeScript string enums (ThresholdsMode.Absolute, ...) become their string
// values, so that a dashboard's JSON text can be checked against @grafana/schema's Dashboard type.
export type Json<T> = T extends string
  ? `${T}`
  : T extends (infer U)[]
    ? Json<U>[]
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;
