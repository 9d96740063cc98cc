import { Global, Module } from '@nestjs/common';
import { Clock, SystemClock } from './clock.js';

/** Process-wide providers: the clock (tests override it with a fake one). */
@Global()
@Module({
  providers: [{ provide: Clock, useClass: SystemClock }],
  exports: [Clock],
})
export class CommonModule {}
