import { type DynamicModule, Global, Module } from '@nestjs/common';
import { AuthConfig } from '../config/app-config.js';

/** The identity mode, for IdentityGuard wherever a controller uses it (@UserAuth()). */
@Global()
@Module({})
export class AuthModule {
  static forRoot(auth: AuthConfig): DynamicModule {
    return {
      module: AuthModule,
      providers: [{ provide: AuthConfig, useValue: auth }],
      exports: [AuthConfig],
    };
  }
}
